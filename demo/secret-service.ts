/**
 * A private Secret Service for tests and the benchmark: a D-Bus session bus
 * of our own and gnome-keyring unlocked with a throwaway password, in a
 * temporary HOME. Nothing of the developer's own keyring is reachable from it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface SecretService {
  /** DBUS_SESSION_BUS_ADDRESS of the private bus. */
  address: string;
  home: string;
  stop(): void;
}

export const SECRET_SERVICE_COMMANDS = ['dbus-daemon', 'gnome-keyring-daemon', 'secret-tool'];

/** The commands it needs that are not installed. */
export function missingSecretServiceCommands(): string[] {
  return SECRET_SERVICE_COMMANDS.filter((command) => spawnSync('sh', ['-c', `command -v ${command}`]).status !== 0);
}

/**
 * A session bus without service activation: otherwise the first request to
 * org.freedesktop.secrets could start a second, locked gnome-keyring that
 * takes the name before ours registers.
 */
const BUS_CONFIG = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;

export async function startSecretService(): Promise<SecretService> {
  const home = mkdtempSync(join(tmpdir(), 'devlogin-keyring-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') };
  const config = join(home, 'bus.conf');
  writeFileSync(config, BUS_CONFIG);
  const daemon = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const address = (await new Promise<string>((resolve, reject) => {
    createInterface({ input: daemon.stdout! }).once('line', resolve);
    daemon.once('exit', (code) => reject(new Error(`dbus-daemon exited ${code}`)));
  })).trim();
  env.DBUS_SESSION_BUS_ADDRESS = address;
  const keyring: ChildProcess = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  keyring.stdin!.end('devlogin-test-keyring');
  const stop = () => {
    keyring.kill();
    daemon.kill();
    rmSync(home, { recursive: true, force: true });
  };
  // Ready once an item can be stored: the login collection appears a little after the service.
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const store = spawnSync('secret-tool', ['store', '--label=probe', 'service', 'devlogin-setup-probe'], { env, input: 'x', timeout: 2000 });
    if (store.status === 0) {
      spawnSync('secret-tool', ['clear', 'service', 'devlogin-setup-probe'], { env, timeout: 2000 });
      return { address, home, stop };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  stop();
  throw new Error('the private Secret Service did not come up');
}
