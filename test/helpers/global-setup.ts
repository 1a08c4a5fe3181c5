/**
 * Starts a private Secret Service for the keychain tests: a D-Bus session
 * bus of our own and gnome-keyring unlocked with a throwaway password, in a
 * temporary HOME. The developer's own keyring is never reachable from tests.
 *
 * Without gnome-keyring the keychain tests are skipped, unless
 * DEVLOGIN_REQUIRE_KEYCHAIN_TESTS=1 (CI sets it), which makes that a failure.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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

async function startBus(env: NodeJS.ProcessEnv): Promise<{ daemon: ChildProcess; address: string }> {
  const daemon = spawn('dbus-daemon', ['--session', '--nofork', '--print-address=1'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  const address = await new Promise<string>((resolve, reject) => {
    createInterface({ input: daemon.stdout! }).once('line', resolve);
    daemon.once('exit', (code) => reject(new Error(`dbus-daemon exited ${code}`)));
  });
  return { daemon, address: address.trim() };
}

async function waitForSecrets(env: NodeJS.ProcessEnv): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const probe = spawnSync('secret-tool', ['search', 'service', 'devlogin-probe'], { env, timeout: 2000 });
    if (probe.status === 0 || probe.status === 1) return; // 1: nothing found, but the service answered
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
    return async () => undefined;
  }
  const home = mkdtempSync(join(tmpdir(), 'devlogin-keyring-'));
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: home, XDG_DATA_HOME: join(home, 'data'), XDG_CONFIG_HOME: join(home, 'config') };
  const { daemon, address } = await startBus(env);
  env.DBUS_SESSION_BUS_ADDRESS = address;
  const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], { env, stdio: ['pipe', 'ignore', 'ignore'] });
  keyring.stdin!.end('devlogin-test-keyring');
  await waitForSecrets(env);
  project.provide('secretService', { address, home });
  return async () => {
    keyring.kill();
    daemon.kill();
    rmSync(home, { recursive: true, force: true });
  };
}
