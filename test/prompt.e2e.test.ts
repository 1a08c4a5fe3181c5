/**
 * The passphrase prompt for real: the built CLI on a pseudo-terminal
 * (test/helpers/pty.ts), typed into as a person would. The passphrase is
 * never echoed, never in argv, output, the audit log or on disk; Ctrl-C at
 * the prompt is exit 130 with the terminal restored; without a terminal
 * (setsid: no controlling terminal) nobody is asked and it is exit 6.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { approveDeviceCode } from '../demo/approve.js';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, findLeaks, NODE, runCli, useTempHomes } from './helpers/cli.js';
import { startInPty } from './helpers/pty.js';
import { startProvider } from './helpers/session.js';

const keyutils = inject('keyutils'); // python3 is among what it checks for

describe.skipIf(!keyutils)('the passphrase asked on the terminal', () => {
  let provider: LocalProvider;
  // No keychain (no D-Bus address), no passphrase in the environment: the passphrase vault, asked.
  const homes = useTempHomes({ DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: undefined, TERM: 'dumb' });
  beforeAll(async () => {
    provider = await startProvider();
  });
  afterAll(() => provider.close());

  it('asks twice at login and once for whoami, without echo, and the passphrase goes nowhere; without a terminal, exit 6', async () => {
    const h = await homes();
    const secret = `s3cret-${randomBytes(6).toString('hex')}`;
    const login = startInPty([NODE, BIN, 'login', '--json', '--no-dpop', '--no-qr', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
    await login.waitFor('New vault passphrase: ');
    login.type(`${secret}\r`);
    await login.waitFor('Repeat the passphrase: ');
    login.type(`${secret}\r`);
    const shown = await login.waitFor(/"user_code":"([^"]+)"/);
    await approveDeviceCode({ issuer: provider.issuer, userCode: /"user_code":"([^"]+)"/.exec(shown)![1]!, login: 'alice' });
    const signedIn = await login.done;
    expect(signedIn.code, signedIn.transcript).toBe(0);
    expect(signedIn.transcript).toMatch(/^New vault passphrase: \r\nRepeat the passphrase: \r\n/);
    expect(signedIn.transcript).toContain('"vault":"passphrase"');
    const envelope = JSON.parse(await readFile(join(h.home, 'sessions', 'default.json.enc'), 'utf8')) as { backend: string };
    expect(envelope.backend).toBe('passphrase');

    const who = startInPty([NODE, BIN, 'whoami'], h.env);
    await who.waitFor('Vault passphrase for profile "default": ');
    who.type(`${secret.slice(0, -1)}x\x7f${secret.at(-1)}\r`); // a typo, erased
    const answered = await who.done;
    expect(answered.code, answered.transcript).toBe(0);
    expect(answered.transcript).toMatch(/^Vault passphrase for profile "default": \r\nSigned in to /);
    expect(answered.transcript).toContain('\r\n  vault    passphrase vault\r\n');

    const wrong = startInPty([NODE, BIN, 'whoami'], h.env);
    await wrong.waitFor('Vault passphrase for profile "default": ');
    wrong.type('not the passphrase\r');
    const refused = await wrong.done;
    expect(refused.code).toBe(6);
    expect(refused.transcript).toContain('devlogin: Wrong vault passphrase, or the session file was tampered with.');
    expect(refused.transcript).not.toContain('not the passphrase');
    expect(await findLeaks([secret], { home: h.home, texts: [signedIn.transcript, answered.transcript] })).toEqual([]);

    // Without a terminal (setsid: a new session with no controlling terminal) nobody is asked: exit 6, naming both ways.
    const expected = 'devlogin: The passphrase vault needs DEVLOGIN_VAULT_PASSPHRASE or a terminal to ask on, and there is neither. '
      + 'Set DEVLOGIN_VAULT_PASSPHRASE to the passphrase (the one used at login, for an existing session), or run devlogin on a terminal.\n';
    for (const args of [['token'], ['whoami'], ['login', '--issuer', provider.issuer, '--client-id', provider.clientId]]) {
      const result = await runCli(args, h.env, ['setsid', '-w']);
      expect(result.code).toBe(6);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(expected);
    }
    expect((await runCli(['token'], { ...h.env, DEVLOGIN_VAULT_PASSPHRASE: secret }, ['setsid', '-w'])).code).toBe(0);
  });

  it('Ctrl-C at the prompt is exit 130, and the terminal has its echo back', async () => {
    const h = await homes({ DEVLOGIN_VAULT_KEY: undefined });
    const run = startInPty(['sh', '-c', '"$0" "$1" login --issuer "$2" --client-id "$3"; echo "exit=$?"; stty -a', NODE, BIN, provider.issuer, provider.clientId], h.env);
    await run.waitFor('New vault passphrase: ');
    run.type('half a pass');
    await new Promise((resolve) => setTimeout(resolve, 100)); // the keys reach the prompt before Ctrl-C does
    run.type('\x03');
    const { code, transcript } = await run.done;
    expect(code).toBe(0);
    expect(transcript).toContain('devlogin: Interrupted; nothing was stored.\r\nexit=130\r\n');
    expect(transcript).toMatch(/(^|\s)echo(\s|$)/m);
    expect(transcript).toMatch(/(^|\s)icanon(\s|$)/m);
    expect(transcript).not.toContain('half a pass');
  });

});
