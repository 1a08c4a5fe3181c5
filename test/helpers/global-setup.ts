/**
 * Starts a private Secret Service for the keychain tests: a D-Bus session
 * bus of our own and gnome-keyring unlocked with a throwaway password, in a
 * temporary HOME. The developer's own keyring is never reachable from tests.
 *
 * Without gnome-keyring the keychain tests are skipped, unless
 * DEVLOGIN_REQUIRE_KEYCHAIN_TESTS=1 (CI sets it), which makes that a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    secretService: { address: string; home: string } | null;
  }
}

function have(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;
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

async function startBus(env: NodeJS.ProcessEnv, home: string): Promise<{ daemon: ChildProcess; address: string }> {
  const config = join(home, 'bus.conf');
  writeFileSync(config, BUS_CONFIG);
  const daemon = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: daemon.stdout! }).once('line', resolve);
    daemon.once('exit', (code) => reject(new Error(`dbus-daemon exited ${code}`)));
  });
  return { daemon, address: address.trim() };
}

/** Ready once an item can be stored: the login collection appears a little after the service. */
async function waitForSecrets(env: NodeJS.ProcessEnv): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const store = spawnSync('secret-tool', ['store', '--label=probe', 'service', 'devlogin-setup-probe'], { env, input: 'x', timeout: 2000 });
    if (store.status === 0) {
      spawnSync('secret-tool', ['clear', 'service', 'devlogin-setup-probe'], { env, timeout: 2000 });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the private Secret Service did not come up');
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const required = process.env.DEVLOGIN_REQUIRE_KEYCHAIN_TESTS === '1';
  const missing = ['dbus-daemon', 'gnome-keyring-daemon', 'secret-tool'].filter((command) => !have(command));
  if (missing.length > 0) {
    if (required) throw new Error(`keychain tests required but ${missing.join(', ')} not installed`);
    project.provide('secretService', null);
    process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent/devlogin-test-bus';
    return async () => undefined;
  }
  const home = mkdtempSync(join(tmpdir(), 'devlogin-keyring-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') };
  const { daemon, address } = await startBus(env, home);
  env.DBUS_SESSION_BUS_ADDRESS = address;
  const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  keyring.stdin!.end('devlogin-test-keyring');
  await waitForSecrets(env);
  project.provide('secretService', { address, home });
  // Test workers are forked from here and inherit this: whatever a test does,
  // the only Secret Service it can reach is this private one.
  process.env.DBUS_SESSION_BUS_ADDRESS = address;
  return async () => {
    keyring.kill();
    daemon.kill();
    rmSync(home, { recursive: true, force: true });
  };
}
