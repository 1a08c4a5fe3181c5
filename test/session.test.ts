/**
 * Using a session, in-process against the real local provider: whoami,
 * token, api (with DPoP), sessions, audit, vault failures, the profile lock
 * and --verbose redaction. Ending sessions is in session-end.test.ts; exec's
 * child processes, signals and concurrent processes are in cli.e2e.test.ts.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { vaultError } from '../src/errors.js';
import { findLeaks, maskRelativeTimes, readAuditEvents } from './helpers/cli.js';
import { createHarness, signIn, type Harness, type RunOptions, type RunResult } from './helpers/harness.js';
import { introspect, startProvider } from './helpers/session.js';
import { jsonLines, lastLine, requestCount, revokeAtProvider, sessionFiles, signedIn, startLoopbackServer } from './helpers/signed-in.js';

/** 30 s tokens at sign-in (inside token's 60 s margin, so the first use refreshes), 10 min after a refresh. */
let provider: LocalProvider;
/** 10 min tokens, DPoP offered (bound only with --dpop). */
let dpopProvider: LocalProvider;
beforeAll(async () => {
  [provider, dpopProvider] = await Promise.all([startProvider({ accessTokenTtl: (grant) => (grant === 'refresh_token' ? 600 : 30) }), startProvider()]);
});
afterAll(async () => {
  await Promise.all([provider.close(), dpopProvider.close()]);
});

const json = (stdout: string) => JSON.parse(stdout) as Record<string, unknown>;
const tokenRequests = (p: LocalProvider) => p.requests.get('/token') ?? 0;
const scope = 'openid profile email offline_access';

describe('whoami', () => {
  it('answers offline from the verified claims, for people and for scripts', async () => {
    const { h, session } = await signedIn(provider);
    const requests = requestCount(provider);
    const human = await h.run(['whoami']);
    expect(human).toMatchObject({ code: 0, stderr: '' });
    expect(maskRelativeTimes(human.stdout)).toBe([
      `Signed in to ${provider.issuer} as Alice <alice@example.test>`,
      '  profile  default',
      '  subject  alice',
      '  verified by a signed ID token',
      `  client   ${provider.clientId}`,
      `  scope    ${scope}`,
      `  token    expires ${session.access_token_expires_at} (in …)`,
      `  session  ends ${session.session_expires_at} (in …)`,
      '  vault    OS keychain',
      '  binding  Bearer',
      '',
    ].join('\n'));
    const machine = await h.run(['whoami', '--json']);
    expect(machine.code).toBe(0);
    expect(json(machine.stdout)).toEqual({
      profile: 'default', signed_in: true, issuer: provider.issuer, client_id: provider.clientId, subject: 'alice',
      name: 'Alice', email: 'alice@example.test', preferred_username: 'alice', provider: 'generic', identity_verified_by: 'id_token', scope,
      access_token_expires_at: session.access_token_expires_at, access_token_valid: true, session_expires_at: session.session_expires_at,
      session_id: expect.stringMatching(/^[0-9a-f-]{36}$/), vault: 'keychain', dpop_bound: false, online: null,
    });
    expect(requestCount(provider)).toBe(requests); // offline: no request at all
  });

  it('exits 3 when nobody is signed in, with a JSON answer for scripts', async () => {
    const h = await createHarness();
    const result = await h.run(['whoami', '--json', '--profile', 'ci']);
    expect(result.code).toBe(3);
    expect(json(result.stdout)).toEqual({ profile: 'ci', signed_in: false, reason: 'not_signed_in' });
    expect(result.stderr).toBe('devlogin: Not signed in (profile "ci"). Run "devlogin login --profile ci".\n');
  });

  it('--online refreshes an expired token first, then asks the provider', async () => {
    const { h } = await signedIn(provider);
    h.clock.advance(31_000); // past the 30 s access token
    const requests = tokenRequests(provider);
    const result = await h.run(['whoami', '--online', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(json(result.stdout)).toMatchObject({ signed_in: true, access_token_valid: true, online: { active: true, checked_with: ['introspection', 'userinfo'] } });
    expect(tokenRequests(provider)).toBe(requests + 1);
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login', 'refresh']);
  });

  it('--online exits 4 and ends the session when the provider revoked it', async () => {
    const { h, refreshToken } = await signedIn(provider);
    await revokeAtProvider(provider, refreshToken!);
    const result = await h.run(['whoami', '--online', '--json']);
    expect(result.code).toBe(4);
    expect(json(result.stdout)).toEqual({ profile: 'default', signed_in: false, reason: 'inactive' });
    expect(result.stderr).toBe('devlogin: The provider says this session is no longer valid; it was ended here too. Run "devlogin login" to sign in again.\n');
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'session_expired', reason: 'inactive', revocation: 'not_asked', subject: 'alice' });
  });
});

describe('token', () => {
  it('prints only the token, refreshes it when it is about to expire, and never moves the session end', async () => {
    const { h, accessToken, refreshToken } = await signedIn(provider);
    const before = json((await h.run(['whoami', '--json'])).stdout);
    const requests = tokenRequests(provider);
    const first = await h.run(['token']); // the sign-in token expires within 60 s: refresh
    expect(first.code).toBe(0);
    expect(first.stderr).toBe('');
    const refreshed = provider.issued.at(-1)!;
    expect(first.stdout).toBe(`${refreshed.access_token}\n`);
    expect(refreshed.access_token).not.toBe(accessToken);
    expect(refreshed.refresh_token).not.toBe(refreshToken); // rotated
    expect(tokenRequests(provider)).toBe(requests + 1);
    expect((await introspect(provider, refreshToken!)).active).toBe(false);

    const second = await h.run(['token', '--json']); // valid for 10 min now: no request
    expect(json(second.stdout)).toEqual({ access_token: refreshed.access_token, token_type: 'Bearer', expires_at: expect.any(String), scope: 'openid profile email offline_access' });
    expect(tokenRequests(provider)).toBe(requests + 1);

    const after = json((await h.run(['whoami', '--json'])).stdout);
    expect(after.session_expires_at).toBe(before.session_expires_at);
    expect(after.access_token_expires_at).not.toBe(before.access_token_expires_at);
    expect(second.stdout).toContain(`"expires_at":"${String(after.access_token_expires_at)}"`);
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login', 'refresh', 'token_read', 'token_read']);
  });

  it('exits 4 and ends the session when the refresh token was revoked (invalid_grant)', async () => {
    const { h, refreshToken } = await signedIn(provider);
    await revokeAtProvider(provider, refreshToken!);
    const result = await h.run(['token']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(lastLine(result.stderr)).toBe('devlogin: The provider no longer accepts this session (invalid_grant): it was revoked or expired there. Run "devlogin login" to sign in again.');
    expect(await sessionFiles(h)).toEqual([]);
    expect(h.keyStore.items.size).toBe(0);
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'session_expired', reason: 'invalid_grant' });
  });
});

describe('DPoP-bound sessions and api', () => {
  const dpopRefusal = 'devlogin: This session\'s access token is bound to a DPoP key (RFC 9449) and is useless as a plain Bearer token. Use "devlogin api URL" to call APIs with it, or sign in with --no-dpop to get a Bearer token.\n';

  it('binds the tokens with --dpop, saved in the profile; api works, a plain Bearer is rejected', async () => {
    const { h, session, accessToken } = await signedIn(dpopProvider, { args: ['--dpop'] });
    expect(session).toMatchObject({ event: 'signed_in', dpop_bound: true });
    const config = JSON.parse(await readFile(join(h.home, 'config.json'), 'utf8')) as { profiles: Record<string, Record<string, unknown>> };
    expect(config.profiles.default).toEqual({ provider: 'generic', issuer: dpopProvider.issuer, clientId: dpopProvider.clientId, scope: 'openid profile email offline_access', dpop: true });
    const bound = await introspect(dpopProvider, accessToken);
    expect(bound).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: expect.stringMatching(/^[\w-]{43}$/) } });

    const api = await h.run(['api', `${dpopProvider.issuer}/me`]);
    expect(api.code, api.stderr).toBe(0);
    expect(json(api.stdout)).toMatchObject({ sub: 'alice', email: 'alice@example.test' });
    expect(String(dpopProvider.lastHeaders.get('/me')?.authorization)).toBe(`DPoP ${accessToken}`);

    const plain = await fetch(`${dpopProvider.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(plain.status).toBe(401);
    const asDpopWithoutProof = await fetch(`${dpopProvider.issuer}/me`, { headers: { authorization: `DPoP ${accessToken}` } });
    expect(asDpopWithoutProof.status).toBe(400);

    expect(await h.run(['token'])).toMatchObject({ code: 2, stdout: '', stderr: dpopRefusal });
    // Refused before any child is started.
    expect(await h.run(['exec', '--', 'true'])).toMatchObject({ code: 2, stdout: '', stderr: dpopRefusal });

    // Refresh with a proof: the new token is bound to the same key.
    const refreshed = await h.run(['api', '--min-ttl', '3600', `${dpopProvider.issuer}/me`]);
    expect(refreshed.code).toBe(0);
    const { access_token: newToken, refresh_token: refreshToken } = dpopProvider.issued.at(-1)!;
    expect(newToken).not.toBe(accessToken);
    expect((await introspect(dpopProvider, newToken!)).cnf).toEqual(bound.cnf);
    expect(json((await h.run(['whoami', '--online', '--json'])).stdout)).toMatchObject({ dpop_bound: true, online: { active: true } });

    // Revocation carries a proof too, and the bound refresh token ends.
    const revoked = await h.run(['revoke']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stderr).toContain('revoked, confirmed by the provider');
    expect(String(dpopProvider.lastHeaders.get('/token/revocation')?.dpop)).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect((await introspect(dpopProvider, refreshToken!)).active).toBe(false);
  });

  it('api sends a body and headers, and exits 7 on a non-2xx answer', async () => {
    const { h } = await signedIn(dpopProvider, { args: ['--dpop'] });
    // userinfo accepts a form POST; a JSON body (the default type for JSON data) it refuses.
    const post = await h.run(['api', '-X', 'POST', '-H', 'Content-Type: application/x-www-form-urlencoded', '-d', 'claims=', `${dpopProvider.issuer}/me`]);
    expect(post.code, post.stderr).toBe(0);
    expect(json(post.stdout)).toMatchObject({ sub: 'alice' });
    const body = await h.run(['api', '-d', '{"x":1}', `${dpopProvider.issuer}/me`]);
    expect(body.code).toBe(7);
    expect(lastLine(body.stderr)).toBe(`devlogin: HTTP 400 from POST ${dpopProvider.issuer}/me.`);
    const missing = await h.run(['api', `${dpopProvider.issuer}/nothing-here`]);
    expect(missing.code).toBe(7);
    expect(lastLine(missing.stderr)).toBe(`devlogin: HTTP 404 from GET ${dpopProvider.issuer}/nothing-here.`);
    expect(await h.run(['api', 'http://example.com/'])).toMatchObject({ code: 2, stderr: "devlogin: Refusing to send the session's token to http://example.com: not HTTPS.\n" });
    expect(await h.run(['api', '-H', 'Authorization: x', `${dpopProvider.issuer}/me`])).toMatchObject({ code: 2, stderr: 'devlogin: The Authorization header is set by devlogin.\n' });
  });

  it('api does not follow a redirect: the other server receives nothing, and the 302 is exit 7', async () => {
    const { h, accessToken } = await signedIn(dpopProvider);
    const elsewhere = await startLoopbackServer((_req, res) => res.end('should never be asked'));
    const redirector = await startLoopbackServer((_req, res) => res.writeHead(302, { location: `${elsewhere.url}/landing` }).end('moved'));
    try {
      const result = await h.run(['api', `${redirector.url}/start`]);
      expect(result.code).toBe(7);
      expect(result.stdout).toBe('moved');
      expect(result.stderr).toBe(`devlogin: HTTP 302 from GET ${redirector.url}/start.\n`);
      expect(redirector.received.map((r) => [r.method, r.path, r.headers.authorization])).toEqual([['GET', '/start', `Bearer ${accessToken}`]]);
      expect(elsewhere.received).toEqual([]);
    } finally {
      await Promise.all([elsewhere.close(), redirector.close()]);
    }
  });

  it('never binds unasked: a Bearer token that token hands out, even where DPoP is offered; a saved --dpop stays until --no-dpop', async () => {
    const { h, accessToken, session } = await signedIn(dpopProvider, { args: [] });
    expect(session).toMatchObject({ dpop_bound: false });
    expect(await introspect(dpopProvider, accessToken)).not.toHaveProperty('cnf');
    expect(await h.run(['token'])).toMatchObject({ code: 0, stdout: `${accessToken}\n`, stderr: '' });
    const savedDpop = async () => (JSON.parse(await readFile(join(h.home, 'config.json'), 'utf8')) as { profiles: { default: { dpop?: boolean } } }).profiles.default.dpop;
    const loginAgain = async (args: string[]) => {
      const run = await signIn(h, dpopProvider, { args });
      expect(run.code, run.stderr).toBe(0);
      return jsonLines(run.stdout).at(-1)!.dpop_bound;
    };
    expect(await savedDpop()).toBeUndefined();
    expect(await loginAgain(['--dpop'])).toBe(true);
    expect(await savedDpop()).toBe(true);
    expect(await loginAgain([])).toBe(true); // the profile asks for it now
    expect(await loginAgain(['--no-dpop'])).toBe(false);
    expect(await savedDpop()).toBeUndefined();
    expect(await loginAgain([])).toBe(false);
  });

  it('--dpop fails with exit 7 when the provider does not offer DPoP, before showing a code', async () => {
    const plain = await startProvider({ dpop: false });
    try {
      const h = await createHarness();
      const result = await h.run(['login', '--dpop', '--json', '--issuer', plain.issuer, '--client-id', plain.clientId]);
      expect(result.code).toBe(7);
      expect(result.stdout).toBe('');
      expect(lastLine(result.stderr)).toBe(`devlogin: The provider ${plain.issuer} does not support DPoP (no usable dpop_signing_alg_values_supported), and DPoP is required. Sign in without --dpop, or ask the provider to enable DPoP (RFC 9449).`);
      expect(plain.requests.get('/device/auth') ?? 0).toBe(0);
    } finally {
      await plain.close();
    }
  });
});

describe('the profile lock', () => {
  const lockOf = (h: Harness) => join(h.home, 'locks', 'default.lock');
  const holdLock = (h: Harness, pid: number) => writeFile(lockOf(h), `${pid}\n`, { mode: 0o600 });
  /** The process table as the lock sees it: every other process alive, or none; `asked` records the pids looked up. */
  const watching = (alive: boolean, asked: number[] = []): RunOptions['processes'] => ({
    pid: process.pid,
    isAlive: (pid) => {
      asked.push(pid);
      return alive;
    },
  });

  it('takes over a lock whose process is gone', async () => {
    const { h } = await signedIn(provider);
    await holdLock(h, 4242);
    const asked: number[] = [];
    const result = await h.run(['whoami', '--json'], { processes: watching(false, asked) });
    expect(result.code, result.stderr).toBe(0);
    expect(json(result.stdout)).toMatchObject({ signed_in: true, subject: 'alice' });
    expect(asked).toEqual([4242]);
    await expect(readFile(lockOf(h))).rejects.toMatchObject({ code: 'ENOENT' }); // released after use
  });

  it('takes over a lock older than 2 minutes even if its process seems alive', async () => {
    const { h } = await signedIn(provider);
    await holdLock(h, 4242);
    h.clock.advance(121_000);
    const result = await h.run(['whoami'], { processes: watching(true) });
    expect(result.code, result.stderr).toBe(0);
    await expect(readFile(lockOf(h))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('gives up after 30 s (on the virtual clock) when a live process holds it: exit 6 naming the lock', async () => {
    const { h } = await signedIn(provider);
    await holdLock(h, 4242);
    const started = h.clock.now();
    const result = await h.run(['token'], { processes: watching(true) });
    expect(result.code).toBe(6);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`devlogin: Another devlogin process holds the lock for profile "default". If no other devlogin is running, delete ${lockOf(h)}.\n`);
    const waited = h.clock.now() - started;
    expect(waited).toBeGreaterThan(30_000);
    expect(waited).toBeLessThan(30_400); // the last back-off step is at most 2 × 200 ms
    expect(await readFile(lockOf(h), 'utf8')).toBe('4242\n'); // the holder's lock is left alone
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login']); // no refresh, no token read
  });
});

describe('sessions, audit and vault errors', () => {
  it('sessions lists every profile, each checked against its sealed record; a keychain that does not answer leaves it unverified', async () => {
    const { h, session } = await signedIn(provider);
    const configFile = join(h.home, 'config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8')) as { profiles: Record<string, unknown> };
    config.profiles.spare = { issuer: 'https://login.example.com', clientId: 'spare' };
    await writeFile(configFile, JSON.stringify(config));
    const defaultRow = { profile: 'default', issuer: provider.issuer, client_id: provider.clientId, subject: 'alice', access_token_expires_at: session.access_token_expires_at, session_expires_at: session.session_expires_at, vault: 'keychain' };
    const spareRow = { profile: 'spare', state: 'not_signed_in', issuer: 'https://login.example.com', client_id: 'spare', subject: null, access_token_expires_at: null, session_expires_at: null, vault: null, verified: null };
    const result = await h.run(['sessions', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(jsonLines(result.stdout)).toEqual([{ ...defaultRow, state: 'active', verified: true }, spareRow]);
    const table = await h.run(['sessions']);
    expect(table.stdout.split('\n')[0]).toMatch(/^PROFILE\s+STATE\s+SUBJECT\s+ISSUER\s+SESSION ENDS\s+VAULT$/);
    expect(table.stdout).toMatch(/\ndefault\s+active\s+alice\s+http:\/\/127\S+\s+\S+Z \(in (1h|59m)\)\s+keychain\n/); // 59m once the clock is past the second the session started in
    expect(table.stdout).toMatch(/\nspare\s+not signed in\s+-\s+https:\/\/login\.example\.com\s+-\s+-\n$/);

    h.keyStore.broken = vaultError('The OS keychain is not available: the keychain is locked', { code: 'keychain_unavailable' });
    const locked = await h.run(['sessions', '--json']);
    expect(locked.code, locked.stderr).toBe(0);
    expect(jsonLines(locked.stdout)).toEqual([{ ...defaultRow, state: 'active', verified: false }, spareRow]);
    expect((await h.run(['sessions'])).stdout).toMatch(/\ndefault\s+active \(unverified\)\s+alice\s/);
  });

  it('audit shows the newest events last, and never a token', async () => {
    const { h, accessToken, refreshToken } = await signedIn(provider);
    const token = (await h.run(['token'])).stdout.trim();
    await h.run(['whoami']);
    const shown = await h.run(['audit', '--limit', '2', '--json']);
    expect(jsonLines(shown.stdout).map((event) => event.event)).toEqual(['refresh', 'token_read']);
    const human = await h.run(['audit']);
    expect(human.stdout.trim().split('\n')).toHaveLength(3);
    expect(human.stdout).toMatch(/^\S+Z {2}login +default +success +alice/);
    const known = [accessToken, refreshToken!, token, ...provider.issued.flatMap((t) => [t.access_token ?? '', t.refresh_token ?? ''])];
    expect(await findLeaks(known, { home: h.home, texts: [human.stdout, shown.stdout] })).toEqual([]);
    expect(await h.run(['audit', '--limit', 'lots'])).toMatchObject({ code: 2, stderr: 'devlogin: Invalid --limit "lots". Use a whole number of events, at least 1.\n' });
  });

  it('a wrong passphrase or a tampered file is exit 6 with one line, and the session survives a wrong passphrase', async () => {
    const { h } = await signedIn(provider, { env: { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'correct horse battery staple' } });
    const wrong = await h.run(['whoami'], { env: { DEVLOGIN_VAULT_PASSPHRASE: 'nope' } });
    expect(wrong.code).toBe(6);
    expect(wrong.stderr).toBe('devlogin: Wrong vault passphrase, or the session file was tampered with. Check DEVLOGIN_VAULT_PASSPHRASE. Run "devlogin logout --local" to drop it, then sign in again.\n');
    expect(await h.run(['whoami'])).toMatchObject({ code: 0, stderr: '' });

    const file = join(h.home, 'sessions', 'default.json.enc');
    const envelope = JSON.parse(await readFile(file, 'utf8')) as { meta: { subject: string } };
    envelope.meta.subject = 'mallory';
    await writeFile(file, JSON.stringify(envelope));
    const tampered = await h.run(['token']);
    expect(tampered).toMatchObject({ code: 6, stdout: '' });
    expect(tampered.stderr).toBe('devlogin: The stored session for profile "default" cannot be decrypted. Run "devlogin logout --local" to drop it, then sign in again.\n');
    expect((await h.run(['logout', '--local'])).code).toBe(0);
    expect(await sessionFiles(h)).toEqual([]);
  });
});

describe('--verbose never shows a secret', () => {
  it('through every command, on a DPoP-bound and on a Bearer session', async () => {
    const verbose = { verbose: true };
    const outputs: { what: string; result: RunResult }[] = [];
    const run = async (h: Harness, args: string[], env?: RunOptions['env']) => {
      const result = await h.run(['--verbose', ...args], { tty: verbose, env });
      outputs.push({ what: args.join(' '), result });
      return result;
    };

    const bound = await signedIn(provider, { args: ['--verbose', '--dpop'], tty: verbose });
    outputs.push({ what: 'login', result: bound.login });
    expect(bound.login.stderr).toMatch(/\[devlogin\] POST http:\/\/127\.0\.0\.1:\d+\/token → 200 \(\d+ ms\)/);
    for (const args of [['whoami'], ['whoami', '--online', '--json'], ['api', `${provider.issuer}/me`], ['api', '--min-ttl', '3600', `${provider.issuer}/me`], ['sessions', '--json'], ['audit', '--json'], ['token'], ['exec', '--', 'true']]) {
      await run(bound.h, args);
    }

    const bearer = await signedIn(provider, { args: ['--verbose', '--no-dpop'], tty: verbose, env: { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'correct horse battery staple' } });
    outputs.push({ what: 'login --no-dpop', result: bearer.login });
    const token = await run(bearer.h, ['token', '--min-ttl', '3600']); // refreshes
    expect(token.code).toBe(0);
    expect(token.stderr).toMatch(/\[devlogin\] POST http:\/\/127\.0\.0\.1:\d+\/token → 200/);
    // git and kubectl read it on stdout too, refreshing it first with --verbose's log on stderr:
    // 55 s left of the 10 min token. (Not past its end: the provider dates the new
    // ID token by its own clock, which this virtual one must not overtake.)
    bearer.h.clock.advance(545_000);
    for (const args of [['git-credential', 'get'], ['kube-credential'], ['kube-credential', '--access-token']]) {
      const result = await bearer.h.run(['--verbose', ...args], { tty: verbose, stdin: 'protocol=http\nhost=127.0.0.1\n\n' });
      expect(result.code, result.stderr).toBe(0);
      outputs.push({ what: args.join(' '), result });
    }
    expect(outputs.at(-3)!.result.stderr).toMatch(/\[devlogin\] POST http:\/\/127\.0\.0\.1:\d+\/token → 200/);
    const failing = await run(bearer.h, ['token'], { DEVLOGIN_VAULT_PASSPHRASE: 'wrong' });
    expect(failing.code).toBe(6);
    expect(failing.stderr).toContain('[devlogin] DevloginError: Wrong vault passphrase'); // the cause, under --verbose
    await run(bearer.h, ['revoke']);
    await run(bound.h, ['logout']);

    const known = [
      ...provider.issued.flatMap((set) => [set.access_token, set.refresh_token, set.id_token]).filter((secret): secret is string => Boolean(secret)),
      ...provider.deviceCodes,
    ];
    expect(known.length).toBeGreaterThanOrEqual(10);
    for (const { what, result } of outputs) {
      // The stdout of token, git-credential and kube-credential is the one place a token belongs.
      const texts = /^(token|git-credential|kube-credential)/.test(what) && result.code === 0 ? [result.stderr] : [result.stdout, result.stderr];
      expect(await findLeaks(known, { home: bound.h.home, texts }), what).toEqual([]);
    }
    expect(await findLeaks(known, { home: bearer.h.home, texts: [] })).toEqual([]);
    expect(outputs.filter(({ result }) => result.stderr.includes('[devlogin]')).length).toBeGreaterThan(8);
  });
});
