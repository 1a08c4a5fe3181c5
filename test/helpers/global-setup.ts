/**
 * Starts a private Secret Service for the keychain tests (see
 * demo/secret-service.ts), and looks for keyctl (Debian keyutils) and
 * python3 for the kernel keyring tests. Without them those tests are
 * skipped, unless DEVLOGIN_REQUIRE_SYSTEM_TESTS=1 (CI sets it), which makes
 * that a failure.
 */
import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { missingSecretServiceCommands, startSecretService } from '../../demo/secret-service.js';

declare module 'vitest' {
  export interface ProvidedContext {
    secretService: { address: string; home: string } | null;
    /** keyctl and python3 are there: the kernel keyring tests run. */
    keyutils: boolean;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const noTools = ['keyctl', 'python3'].filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
  if (noTools.length > 0 && process.env.DEVLOGIN_REQUIRE_SYSTEM_TESTS === '1') throw new Error(`kernel keyring tests required but ${noTools.join(', ')} not installed`);
  project.provide('keyutils', noTools.length === 0);
  const missing = missingSecretServiceCommands();
  if (missing.length > 0) {
    if (process.env.DEVLOGIN_REQUIRE_SYSTEM_TESTS === '1') throw new Error(`keychain tests required but ${missing.join(', ')} not installed`);
    project.provide('secretService', null);
    process.env.DBUS_SESSION_BUS_ADDRESS = 'unix:path=/nonexistent/devlogin-test-bus';
    return async () => undefined;
  }
  const service = await startSecretService();
  project.provide('secretService', { address: service.address, home: service.home });
  // Test workers are forked from here and inherit this: whatever a test does,
  // the only Secret Service it can reach is this private one.
  process.env.DBUS_SESSION_BUS_ADDRESS = service.address;
  return async () => service.stop();
}
