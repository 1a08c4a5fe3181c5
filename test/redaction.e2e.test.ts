/**
 * --verbose logs every HTTP exchange; no token, code or secret may appear in
 * it, nor anywhere else but token's stdout. Known tokens go through every
 * command with --verbose, and every output is searched for them.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, findLeaks, makeHome, runCli, type CliResult, type TestHome } from './helpers/cli.js';
import { signIn, startProvider } from './helpers/session.js';

let provider: LocalProvider;
let h: TestHome;
let bearer: TestHome;
beforeAll(async () => {
  provider = await startProvider({ accessTokenTtl: (grant) => (grant === 'refresh_token' ? 600 : 30) });
  h = await makeHome();
  bearer = await makeHome();
});
afterAll(async () => {
  await provider.close();
  await h.cleanup();
  await bearer.cleanup();
});

const secrets = () => [
  ...provider.issued.flatMap((set) => [set.access_token, set.refresh_token, set.id_token]).filter((token): token is string => Boolean(token)),
  ...provider.deviceCodes,
];

describe('--verbose never shows a secret', () => {
  it('through every command, on a DPoP-bound and on a Bearer session', async () => {
    const outputs: { what: string; result: CliResult }[] = [];
    const run = async (home: TestHome, args: string[]) => {
      const result = await runCli(['--verbose', ...args], home.env);
      outputs.push({ what: args.join(' '), result });
      return result;
    };

    const login = await signIn(provider, h, { args: ['--verbose'] });
    outputs.push({ what: 'login', result: login });
    expect(login.code).toBe(0);
    expect(login.stderr).toMatch(/\[devlogin\] POST http:\/\/127\.0\.0\.1:\d+\/token → 200 \(\d+ ms\)/);
    for (const args of [['whoami'], ['whoami', '--online', '--json'], ['api', `${provider.issuer}/me`], ['api', '--min-ttl', '3600', `${provider.issuer}/me`], ['sessions', '--json'], ['audit', '--json'], ['token'], ['exec', '--', 'true']]) {
      await run(h, args);
    }

    const bearerLogin = await signIn(provider, bearer, { args: ['--verbose', '--no-dpop'] });
    outputs.push({ what: 'login --no-dpop', result: bearerLogin });
    const token = await run(bearer, ['token', '--min-ttl', '3600']); // refreshes
    expect(token.code).toBe(0);
    expect(token.stderr).toMatch(/\[devlogin\] POST http:\/\/127\.0\.0\.1:\d+\/token → 200/);
    await run(bearer, ['exec', '--', 'sh', '-c', 'test -n "$DEVLOGIN_ACCESS_TOKEN"']);
    const failing = spawnSync(process.execPath, [BIN, '--verbose', 'token'], { env: { ...bearer.env, DEVLOGIN_VAULT_PASSPHRASE: 'wrong' }, encoding: 'utf8' });
    outputs.push({ what: 'token with a wrong passphrase', result: { code: failing.status, signal: null, stdout: failing.stdout, stderr: failing.stderr } });
    await run(bearer, ['revoke']);
    await run(h, ['logout']);

    const known = secrets();
    expect(known.length).toBeGreaterThanOrEqual(10);
    for (const { what, result } of outputs) {
      // token's stdout is the one place a token belongs.
      const texts = what.startsWith('token') && result.code === 0 ? [result.stderr] : [result.stdout, result.stderr];
      expect(await findLeaks(known, { home: h.home, texts }), what).toEqual([]);
    }
    expect(await findLeaks(known, { home: bearer.home, texts: [] })).toEqual([]);
    expect(outputs.filter(({ result }) => result.stderr.includes('[devlogin]')).length).toBeGreaterThan(8);
  });
});
