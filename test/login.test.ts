/**
 * `devlogin login` in-process (test/helpers/harness.ts): the real local
 * OpenID provider for the flow itself, the hand-written one for what the real
 * one never does. The virtual clock makes every time exact. Ctrl-C of the
 * real process and the real Secret Service are left to the end-to-end files.
 */
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { approveDeviceCode } from '../demo/approve.js';
import type { LocalProvider } from '../demo/provider.js';
import { verificationHostWarning } from '../src/core/oidc/verification-host.js';
import { parsePolicy } from '../src/core/policy.js';
import type { Env } from '../src/core/settings.js';
import { EXIT, vaultError } from '../src/errors.js';
import { findLeaks, withoutTime } from './helpers/cli.js';
import { startFakeProvider, type FakeProvider, type FakeProviderScript, type Reply } from './helpers/fake-provider.js';
import { createHarness as createHarnessUncleaned, itemKey, keyAccount, signIn, type Harness, type RunOptions, type RunResult, type TtyFlags } from './helpers/harness.js';
import { introspect, startProvider } from './helpers/session.js';
import { freshConnections, jsonLines, lastLine, sessionFiles } from './helpers/signed-in.js';

let provider: LocalProvider;
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(() => provider.close());

/**
 * createHarness registers its cleanup with afterAll from inside the first
 * test that calls it, which vitest never runs: the homes stayed in /tmp.
 * This file removes its own.
 */
const homes: string[] = [];
afterAll(() => Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true }))));
async function createHarness(env?: Env): Promise<Harness> {
  const h = await createHarnessUncleaned(env);
  homes.push(h.home);
  return h;
}

const fakes: FakeProvider[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((fake) => fake.close()));
});

async function fakeProvider(script: FakeProviderScript): Promise<FakeProvider> {
  const fake = await startFakeProvider(script);
  fakes.push(fake);
  return fake;
}

type Issuer = Pick<LocalProvider, 'issuer' | 'clientId'>;
const loginArgs = (p: Issuer, args: string[] = []): string[] => ['login', '--issuer', p.issuer, '--client-id', p.clientId, ...args];
const loginTo = (h: Harness, p: Issuer, args: string[] = [], options: RunOptions = {}): Promise<RunResult> => h.run(loginArgs(p, args), options);

const pending: Reply = { status: 400, json: { error: 'authorization_pending' } };
const DEFAULT_SCOPE = 'openid profile email offline_access';
const WARNING = '  ! Enter this code only if you started this sign-in yourself. Nobody should ever ask you for it.';

const iso = (epochSeconds: number): string => new Date(epochSeconds * 1000).toISOString();
/** The virtual clock in whole seconds, as the session record counts them. */
const clockSeconds = (h: Harness): number => Math.floor(h.clock.now() / 1000);
const SGR = /\u001b\[[0-9;]*m/g;

/** Exactly one line on stderr, and no stack trace. */
function oneLine(stderr: string): string {
  expect(stderr).not.toMatch(/\n\s+at /);
  const lines = stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

/** Nothing stored: no session file, no key in the keychain. */
async function expectNothingStored(h: Harness): Promise<void> {
  expect(await sessionFiles(h)).toEqual([]);
  expect([...h.keyStore.items.keys()]).toEqual([]);
}

/** The audit log of a home, without times. */
async function auditOf(h: Harness): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(h.home, 'audit.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((line) => withoutTime(JSON.parse(line) as Record<string, unknown>));
}

/** A fetch that records every URL and refuses anything off loopback: no test reaches the Internet. */
function recordingFetch(): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  const recording = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    urls.push(url);
    if (new URL(url).hostname !== '127.0.0.1') throw new TypeError(`the test refused a request to ${url}`);
    return fetch(input, init);
  };
  return { fetch: recording as typeof fetch, urls };
}

/** onSleep that approves the run's code as `user` at the first poll (for runs signIn cannot express). */
function approvingAs(p: LocalProvider, user: string): NonNullable<RunOptions['onSleep']> {
  let done = false;
  return async (_ms, run) => {
    if (done) return;
    done = true;
    const verification = run.events().find((event) => event.event === 'verification');
    await approveDeviceCode({ issuer: p.issuer, userCode: String(verification!.user_code), login: user });
  };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('devlogin login', () => {
  it('signs in, prints the two JSON events and the people\'s text, stores a sealed session and saves the profile', async () => {
    const h = await createHarness();
    const started = h.clock.now();
    const run = await signIn(h, provider);
    expect(run.code).toBe(0);
    const ended = clockSeconds(h);
    expect(run.sleeps).toEqual([1250]); // approved at the first poll, never early (the interval and a 250 ms margin)

    const [verification, signedIn, ...rest] = jsonLines(run.stdout);
    expect(rest).toEqual([]);
    const userCode = String(verification!.user_code);
    expect(verification).toEqual({
      event: 'verification',
      user_code: expect.stringMatching(/^[A-Z]{4}-[A-Z]{4}$/),
      verification_uri: `${provider.issuer}/device`,
      verification_uri_complete: `${provider.issuer}/device?user_code=${userCode}`,
      expires_at: new Date(started + 600_000).toISOString(),
      warning: null,
    });
    expect(signedIn).toEqual({
      event: 'signed_in',
      profile: 'default',
      issuer: provider.issuer,
      subject: 'alice',
      name: 'Alice',
      email: 'alice@example.test',
      scope: DEFAULT_SCOPE,
      access_token_expires_at: iso(ended + 600),
      session_expires_at: iso(ended + 3600),
      vault: 'keychain',
      dpop_bound: false, // the local provider offers DPoP, but login binds the tokens only when asked (--dpop)
    });

    // People's text is all on stderr; no QR code, no spinner and no browser when stderr is not a terminal.
    expect(run.stderr).toBe([
      `Signing in to ${provider.issuer}`,
      `  client ${provider.clientId} · scopes ${DEFAULT_SCOPE}`,
      '',
      `  Your one-time code: ${userCode}`,
      `  Enter it at:        ${provider.issuer}/device`,
      `  or open directly:   ${provider.issuer}/device?user_code=${userCode}`,
      '',
      WARNING,
      '',
      'Waiting for approval (the code expires in 10m)…',
      '✓ Signed in as Alice <alice@example.test>',
      `  Session ends ${iso(ended + 3600)} (in 1h); stored in the OS keychain.`,
      '',
    ].join('\n'));
    expect(run.qr).toEqual([]);
    expect(run.opened).toEqual([]);

    const sessionFile = join(h.home, 'sessions', 'default.json.enc');
    expect((await stat(sessionFile)).mode & 0o777).toBe(0o600);
    expect((await stat(join(h.home, 'sessions'))).mode & 0o777).toBe(0o700);
    const envelope = JSON.parse(await readFile(sessionFile, 'utf8')) as Record<string, unknown>;
    expect(envelope).toMatchObject({ format: 'devlogin-session', version: 1, backend: 'keychain', meta: { profile: 'default', subject: 'alice', issuer: provider.issuer } });
    expect(envelope).not.toHaveProperty('wrappedKey'); // the key is in the keychain, not in the file
    expect([...h.keyStore.items.keys()]).toEqual([keyAccount(h)]);
    expect(h.keyStore.items.get(keyAccount(h))).toMatch(/^[A-Za-z0-9+/]{43}=\.0$/); // the key and the file's generation
    expect(itemKey(h.keyStore.items.get(keyAccount(h)))).toHaveLength(32);

    const config = JSON.parse(await readFile(join(h.home, 'config.json'), 'utf8')) as unknown;
    expect(config).toEqual({ profiles: { default: { provider: 'generic', issuer: provider.issuer, clientId: provider.clientId, scope: DEFAULT_SCOPE } } });

    const audit = await auditOf(h);
    expect(audit).toEqual([{ event: 'login', profile: 'default', outcome: 'success', issuer: provider.issuer, clientId: provider.clientId, scope: DEFAULT_SCOPE, subject: 'alice', sessionId: expect.any(String) }]);

    // The sealed session opens: whoami reads it back.
    const whoami = await h.run(['whoami', '--json']);
    expect(whoami.code).toBe(0);
    expect(jsonLines(whoami.stdout)).toEqual([expect.objectContaining({ signed_in: true, subject: 'alice', session_id: audit[0]!.sessionId, vault: 'keychain', dpop_bound: false })]);
  });

  it('leaves no token or device code in DEVLOGIN_HOME, stdout or stderr, even with --verbose', async () => {
    const h = await createHarness();
    const issuedBefore = provider.issued.length;
    const codesBefore = provider.deviceCodes.length;
    const run = await signIn(h, provider, { args: ['--verbose'], tty: { verbose: true } });
    expect(run.code).toBe(0);
    const tokens = provider.issued.slice(issuedBefore).flatMap((set) => [set.access_token, set.refresh_token, set.id_token]).filter((t): t is string => Boolean(t));
    expect(tokens.length).toBeGreaterThanOrEqual(3);
    const deviceCodes = provider.deviceCodes.slice(codesBefore);
    expect(deviceCodes).toHaveLength(1);
    expect(await findLeaks([...tokens, ...deviceCodes], { home: h.home, texts: [run.stdout, run.stderr] })).toEqual([]);
    // --verbose logged the exchanges, without bodies.
    expect(run.stderr).toMatch(/\[devlogin\] POST http:\/\/127\.0\.0\.1:\d+\/token → 200/);
  });

  it('records --max-session and saves the profile so the next login needs only --profile', async () => {
    const h = await createHarness();
    const first = await signIn(h, provider, { args: ['--profile', 'work', '--max-session', '30m', '--scope', 'openid email'] });
    expect(first.code).toBe(0);
    expect(jsonLines(first.stdout)[1]).toMatchObject({ profile: 'work', scope: 'openid email', session_expires_at: iso(clockSeconds(h) + 1800) });
    const firstTokens = provider.issued.at(-1)!;

    const second = await h.run(['login', '--json', '--profile', 'work'], { onSleep: approvingAs(provider, 'bob') });
    expect(second.code).toBe(0);
    expect(jsonLines(second.stdout)[1]).toMatchObject({ profile: 'work', subject: 'bob', issuer: provider.issuer, scope: 'openid email' });
    expect(await sessionFiles(h)).toEqual(['/sessions/work.json.enc']);
    // The replaced session was revoked at the provider, not left valid.
    expect((await introspect(provider, firstTokens.access_token!)).active).toBe(false);
    expect((await auditOf(h)).map((event) => [event.event, event.reason ?? null])).toEqual([['login', null], ['logout', 'replaced'], ['login', null]]);
  });

  it('exits 5 and stores nothing when the user denies', async () => {
    const h = await createHarness();
    const run = await signIn(h, provider, { decision: 'deny' });
    expect(run.code).toBe(5);
    expect(lastLine(run.stderr)).toBe('devlogin: The sign-in was denied. Run devlogin login again if that was a mistake.');
    expect(jsonLines(run.stdout).map((event) => event.event)).toEqual(['verification']);
    await expectNothingStored(h);
    expect(await auditOf(h)).toEqual([expect.objectContaining({ event: 'login_failed', outcome: 'failure', reason: 'access_denied' })]);
  });

  it('exits 5 when the code expires before approval, without polling after the deadline', async () => {
    const shortLived = await startProvider({ deviceCodeTtl: 2 });
    try {
      const h = await createHarness();
      const run = await signIn(h, shortLived, { decision: 'none' });
      expect(run.code).toBe(5);
      expect(lastLine(run.stderr)).toBe('devlogin: The code expired before the sign-in was completed. Run devlogin login again and approve within the time shown.');
      expect(run.sleeps).toEqual([1250, 750]);
      expect(shortLived.requests.get('/token')).toBe(1);
      await expectNothingStored(h);
      expect(await auditOf(h)).toEqual([expect.objectContaining({ event: 'login_failed', outcome: 'failure', reason: 'expired_token' })]);
    } finally {
      await shortLived.close();
    }
  });

  describe('Ctrl-C (the run\'s abort signal)', () => {
    async function interrupted(options: { approve: boolean; atSleep: number }) {
      const h = await createHarness();
      const controller = new AbortController();
      const approve = approvingAs(provider, 'alice');
      const tokenRequestsBefore = provider.requests.get('/token') ?? 0;
      let sleeps = 0;
      const run = await loginTo(h, provider, ['--json'], {
        signal: controller.signal,
        onSleep: async (ms, state) => {
          sleeps += 1;
          if (options.approve) await approve(ms, state);
          if (sleeps === options.atSleep) controller.abort();
        },
      });
      return { h, run, tokenRequests: (provider.requests.get('/token') ?? 0) - tokenRequestsBefore };
    }

    it('stops polling at once with exit 130 and stores nothing', async () => {
      const { h, run, tokenRequests } = await interrupted({ approve: false, atSleep: 2 });
      expect(run.code).toBe(130);
      expect(lastLine(run.stderr)).toBe('devlogin: Interrupted; nothing was stored.');
      expect(run.sleeps).toEqual([1250, 1250]);
      expect(tokenRequests).toBe(1); // the poll after the interrupted wait never went out
      expect(jsonLines(run.stdout).map((event) => event.event)).toEqual(['verification']);
      await expectNothingStored(h);
      await expect(readFile(join(h.home, 'config.json'))).rejects.toThrow(/ENOENT/);
      expect(await auditOf(h)).toEqual([expect.objectContaining({ event: 'login_failed', outcome: 'failure', reason: 'interrupted' })]);
    });

    it('does not exchange a code that was approved just before Ctrl-C', async () => {
      const { h, run, tokenRequests } = await interrupted({ approve: true, atSleep: 1 });
      expect(run.code).toBe(130);
      expect(lastLine(run.stderr)).toBe('devlogin: Interrupted; nothing was stored.');
      expect(tokenRequests).toBe(0);
      expect(run.stderr).not.toContain('Signed in');
      await expectNothingStored(h);
    });
  });
});

describe('devlogin login: bad input and unavailable things', () => {
  it.each([
    [['--issuer', 'http://login.example.com', '--client-id', 'x'], 'devlogin: The issuer http://login.example.com/ does not use HTTPS. Only https:// issuers are accepted (plain http:// only on 127.0.0.1, ::1 or localhost).'],
    [['--issuer', 'not a url', '--client-id', 'x'], 'devlogin: The issuer "not a url" is not a URL. Pass the full issuer URL, e.g. --issuer https://login.example.com'],
    [['--client-id', 'x'], 'devlogin: No issuer is configured. Pass --issuer URL or set DEVLOGIN_ISSUER.'],
    [['--issuer', 'https://login.example.com'], 'devlogin: No client id is configured. Pass --client-id ID or set DEVLOGIN_CLIENT_ID.'],
    [['--issuer', 'https://login.example.com', '--client-id', 'x', '--profile', '../etc'], 'devlogin: Invalid profile name "../etc". Use letters, digits, ".", "_" or "-" (at most 64 characters), starting with a letter or digit.'],
    [['--frobnicate'], "devlogin: unknown option '--frobnicate' (see devlogin --help)"],
  ])('login %j exits 2 with one line, before any request', async (args, message) => {
    const h = await createHarness();
    const recorder = recordingFetch();
    const result = await h.run(['login', ...args], { fetch: recorder.fetch });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(oneLine(result.stderr)).toBe(message);
    expect(recorder.urls).toEqual([]);
  });

  it('exits 7 when the provider cannot be reached', async () => {
    const h = await createHarness();
    const port = await closedPort();
    // A pool of its own, as a new process has: no kept-alive socket to an earlier server on this port.
    const result = await h.run(['login', '--issuer', `http://127.0.0.1:${port}`, '--client-id', 'x'], { fetch: await freshConnections() });
    expect(result.code).toBe(7);
    expect(result.stdout).toBe('');
    expect(lastLine(result.stderr)).toMatch(/^devlogin: Could not reach the provider at the discovery endpoint of http:\/\/127\.0\.0\.1:\d+\/: .*ECONNREFUSED.*Check the issuer URL/);
    await expectNothingStored(h);
  });

  it('exits 6 naming the fixes when no vault answers (no keychain, kernel keyring refused, no key, no passphrase, no terminal), before asking anyone to approve', async () => {
    const h = await createHarness();
    // What the OS key store reports when no Secret Service answers (src/core/vault/keychain.ts).
    h.keyStore.broken = vaultError('The OS keychain is not available: no Secret Service on the session bus', { code: 'keychain_unavailable' });
    const recorder = recordingFetch();
    const result = await loginTo(h, provider, [], { fetch: recorder.fetch });
    expect(result.code).toBe(6);
    expect(oneLine(result.stderr)).toBe('devlogin: No vault to store the session in. The OS keychain is not available: no Secret Service on the session bus '
      + 'The Linux kernel keyring refused the write (AccessDenied): this process has no session keyring of its own (cron, a service, sudo), or a seccomp profile blocks keyutils (as Docker\'s default does). '
      + 'Start or unlock your OS keychain (on Linux, a Secret Service such as gnome-keyring); on Linux, run in a login session for the kernel keyring; '
      + 'or set DEVLOGIN_VAULT_KEY (devlogin vault new-key) or DEVLOGIN_VAULT_PASSPHRASE, or run on a terminal to be asked for a passphrase.');
    expect(recorder.urls).toEqual([]);
  });

  it('exits 6 when DEVLOGIN_VAULT=passphrase has no passphrase and no terminal', async () => {
    const h = await createHarness({ DEVLOGIN_VAULT: 'passphrase' });
    const recorder = recordingFetch();
    const result = await loginTo(h, provider, [], { fetch: recorder.fetch });
    expect(result.code).toBe(6);
    expect(oneLine(result.stderr)).toBe('devlogin: The passphrase vault needs DEVLOGIN_VAULT_PASSPHRASE or a terminal to ask on, and there is neither. '
      + 'Set DEVLOGIN_VAULT_PASSPHRASE to the passphrase (the one used at login, for an existing session), or run devlogin on a terminal.');
    expect(recorder.urls).toEqual([]);
  });
});

describe('settings sources in errors', () => {
  const config = (h: Harness, profile: Record<string, unknown>) =>
    writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { default: { issuer: provider.issuer, clientId: provider.clientId, ...profile } } }));

  it.each([
    ['--max-session soon', { args: ['--max-session', 'soon'] }, 'devlogin: Invalid --max-session "soon". Use a number of seconds or a value like 90s, 15m, 1h.'],
    ['--max-session 13h', { args: ['--max-session', '13h'] }, 'devlogin: The max session of 13h (--max-session) is longer than the 12h ceiling. Use 12h or less.'],
    ['DEVLOGIN_MAX_SESSION=soon', { env: { DEVLOGIN_MAX_SESSION: 'soon' } }, 'devlogin: Invalid DEVLOGIN_MAX_SESSION "soon". Use a number of seconds or a value like 90s, 15m, 1h.'],
    ['DEVLOGIN_MAX_SESSION=13h', { env: { DEVLOGIN_MAX_SESSION: '13h' } }, 'devlogin: The max session of 13h (DEVLOGIN_MAX_SESSION) is longer than the 12h ceiling. Use 12h or less.'],
    ['maxSession "forever" in config.json', { profile: { maxSession: 'forever' } }, 'devlogin: Invalid maxSession in config.json (profile "default") "forever". Use a number of seconds or a value like 90s, 15m, 1h.'],
  ])('a bad %s is named in a one-line exit 2, before any request', async (_what, source: { args?: string[]; env?: Record<string, string>; profile?: Record<string, unknown> }, message) => {
    const h = await createHarness();
    if (source.profile) await config(h, source.profile);
    const recorder = recordingFetch();
    const result = await loginTo(h, provider, source.args, { env: source.env, fetch: recorder.fetch });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(oneLine(result.stderr)).toBe(message);
    expect(recorder.urls).toEqual([]);
  });

  it('the flag wins over the environment, and the environment over config.json', async () => {
    const fake = await fakeProvider({ token: [{ tokens: {} }] });
    const h = await createHarness();
    const flag = await loginTo(h, fake, ['--json', '--max-session', '30m'], { env: { DEVLOGIN_MAX_SESSION: 'soon' } });
    expect(flag.code).toBe(0);
    expect(jsonLines(flag.stdout)[1]).toMatchObject({ session_expires_at: iso(clockSeconds(h) + 1800) });

    await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { default: { issuer: fake.issuer, clientId: fake.clientId, maxSession: '13h' } } }));
    const env = await h.run(['login', '--json'], { env: { DEVLOGIN_MAX_SESSION: '20m' } });
    expect(env.code).toBe(0);
    expect(jsonLines(env.stdout)[1]).toMatchObject({ session_expires_at: iso(clockSeconds(h) + 1200) });
  });
});

describe('what login shows on a terminal', () => {
  beforeAll(async () => {
    // The spinner loads ora lazily; load it here once so that it is drawn
    // before the fake provider's instant approval, as it is for a person.
    await import('ora');
  });

  const complete = (fake: FakeProvider) => `${fake.issuer}/device?user_code=WDJB-MJHT`;
  const terminal: TtyFlags = { stderrIsTTY: true };
  const interactive: TtyFlags = { stderrIsTTY: true, stdinIsTTY: true };

  async function show(tty: TtyFlags, args: string[] = [], device?: Record<string, unknown>) {
    const fake = await fakeProvider({ token: [pending, { tokens: {} }], ...(device ? { device } : {}) });
    const h = await createHarness();
    const run = await loginTo(h, fake, args, { tty });
    expect(run.code).toBe(0);
    return { run, fake, h };
  }

  describe('QR code', () => {
    it('is drawn from the complete verification URI when stderr is a terminal', async () => {
      const { run, fake } = await show(terminal);
      expect(run.qr).toEqual([complete(fake)]);
      expect(run.stderr).toContain(`  or open directly:   ${complete(fake)}\n  [QR ${complete(fake)}]\n\n${WARNING}\n`);
    });

    it('is drawn from the plain verification URI when the provider sends no complete one', async () => {
      const { run, fake } = await show(terminal, [], { verification_uri_complete: undefined });
      expect(run.qr).toEqual([`${fake.issuer}/device`]);
      expect(run.stderr).toContain(`  Enter it at:        ${fake.issuer}/device\n  [QR ${fake.issuer}/device]\n`);
      expect(run.stderr).not.toContain('or open directly');
    });

    it.each([
      ['--no-qr on a terminal', terminal, ['--no-qr']],
      ['stderr not a terminal', {}, []],
    ] as const)('is not drawn with %s', async (_what, tty, args) => {
      const { run } = await show(tty, [...args]);
      expect(run.qr).toEqual([]);
      expect(run.stderr).not.toContain('[QR');
    });
  });

  describe('waiting', () => {
    it('draws a spinner with the countdown on a terminal, instead of the plain line', async () => {
      const { run } = await show(terminal);
      expect(run.stderr).toMatch(/[◐◓◑◒] Waiting for approval… the code expires in (10m|9m \d+s)/);
      expect(run.stderr).not.toContain('Waiting for approval (');
      expect(run.stderr).toContain('✓ Signed in as Fake User <fake@example.test>\n');
    });

    it('prints one plain line when stderr is not a terminal', async () => {
      const { run } = await show({});
      expect(run.stderr).toContain(`${WARNING}\n\nWaiting for approval (the code expires in 10m)…\n✓ Signed in as Fake User <fake@example.test>\n`);
      expect(run.stderr).not.toMatch(/[◐◓◑◒]/);
      expect(run.stderr.match(/Waiting for approval/g)).toHaveLength(1);
    });
  });

  describe('colour', () => {
    const maskTimes = (text: string) => text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<time>');

    it('puts ANSI colour on stderr only when the IO says colour, and the words stay the same', async () => {
      const coloured = (await show({ color: true })).run;
      const plain = (await show({})).run;
      expect(coloured.stderr).toContain('  Your one-time code: \u001b[1m\u001b[33mWDJB-MJHT\u001b[39m\u001b[22m\n');
      expect(coloured.stderr).toContain('\u001b[32m✓\u001b[39m Signed in as \u001b[1mFake User\u001b[22m');
      expect(plain.stderr).not.toContain('\u001b');
      expect(maskTimes(coloured.stderr.replace(SGR, '')).replace(/127\.0\.0\.1:\d+/g, 'HOST')).toBe(maskTimes(plain.stderr).replace(/127\.0\.0\.1:\d+/g, 'HOST'));
    });

    it('puts no colour on a terminal without colour (the spinner still draws)', async () => {
      const { run } = await show(terminal);
      expect(run.stderr).toMatch(/[◐◓◑◒] Waiting/);
      expect(run.stderr).not.toMatch(SGR);
    });

    it('keeps stdout free of colour even with colour on', async () => {
      const { run } = await show({ color: true }, ['--json']);
      expect(run.stdout).not.toContain('\u001b');
      expect(jsonLines(run.stdout).map((event) => event.event)).toEqual(['verification', 'signed_in']);
    });
  });

  describe('browser', () => {
    it('opens the complete URI when stderr and stdin are terminals, not CI, not SSH', async () => {
      const { run, fake } = await show(interactive);
      expect(run.opened).toEqual([complete(fake)]);
    });

    it.each([
      ['--no-browser', interactive, ['--no-browser']],
      ['stderr not a terminal', { stdinIsTTY: true }, []],
      ['stdin not a terminal', { stderrIsTTY: true }, []],
      ['in CI', { ...interactive, ci: true }, []],
      ['over SSH', { ...interactive, ssh: true }, []],
    ] as const)('stays shut with %s', async (_what, tty, args) => {
      const { run } = await show(tty, [...args]);
      expect(run.opened).toEqual([]);
      expect(run.stderr).toContain('✓ Signed in as Fake User');
    });
  });
});

describe('login against a misbehaving provider', () => {
  async function loginAgainst(script: FakeProviderScript, args: string[] = [], options: RunOptions = {}) {
    const fake = await fakeProvider(script);
    const h = await createHarness();
    const result = await loginTo(h, fake, args, options);
    return { ...result, fake, h, sessions: await sessionFiles(h), lastLine: lastLine(result.stderr) };
  }

  it('strips control characters from every string the provider sends before printing it', async () => {
    const run = await loginAgainst({
      device: {
        user_code: 'WDJB\u001b[2J-MJHT\u0007',
        verification_uri: 'http://127.0.0.1:1/dev\u001b]8;;http://evil.example/\u0007ice\u001b[31m',
        verification_uri_complete: undefined,
      },
      token: [{ tokens: {} }],
    });
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
    expect(run.stderr).toContain('Your one-time code: WDJB-MJHT');
    expect(run.stderr).toContain('Enter it at:        http://127.0.0.1:1/device\n');
  });

  it('refuses an ID token signed by a key that is not in the JWKS: exit 7, nothing stored', async () => {
    const run = await loginAgainst({ token: [pending, { tokens: { wrongKey: true } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/^devlogin: The ID token from http:\/\/127\.0\.0\.1:\d+ failed verification: .*Nothing was stored\./);
    await expectNothingStored(run.h);
    expect(await findLeaks(run.fake.issued, { home: run.h.home, texts: [run.stdout, run.stderr] })).toEqual([]);
    expect(await auditOf(run.h)).toEqual([expect.objectContaining({ event: 'login_failed', reason: 'invalid_id_token' })]);
  });

  it('refuses an unsigned (alg none) ID token', async () => {
    const run = await loginAgainst({ token: [{ tokens: { alg: 'none' } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/ID token .*failed verification/);
    expect(run.sessions).toEqual([]);
  });

  it('refuses an ID token issued to another client (aud)', async () => {
    const run = await loginAgainst({ token: [{ tokens: { claims: { aud: 'someone-else' } } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/ID token .*failed verification/);
    expect(run.sessions).toEqual([]);
  });

  it('exits 7 with one line on a malformed token response', async () => {
    const run = await loginAgainst({ token: [{ status: 200, body: '{"access_token":', headers: { 'content-type': 'application/json' } }] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/^devlogin: The provider sent a malformed response at the token endpoint of http:\/\/127\.0\.0\.1:\d+/);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('exits 7 on a malformed device authorization response', async () => {
    const run = await loginAgainst({ device: { user_code: 42 }, token: [pending] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toMatch(/^devlogin: The provider sent a malformed response at the device authorization endpoint/);
  });

  it('refuses a verification URI that is not HTTPS', async () => {
    const run = await loginAgainst({ device: { verification_uri: 'http://phish.example/device', verification_uri_complete: undefined }, token: [pending] });
    expect(run.code).toBe(7);
    expect(run.lastLine).toBe("devlogin: The provider's verification_uri (http://phish.example/device) does not use HTTPS; refused. A sign-in page over plain HTTP could be read or changed by anyone on the network.");
  });

  it.each(['token_endpoint', 'device_authorization_endpoint', 'jwks_uri', 'revocation_endpoint'])(
    'refuses a discovery document whose %s is plain HTTP off loopback: exit 2, nothing asked, nothing stored',
    async (endpoint) => {
      const recorder = recordingFetch();
      const run = await loginAgainst({ discovery: { [endpoint]: 'http://example.com/oauth' }, token: [{ tokens: {} }] }, [], { fetch: recorder.fetch });
      expect(run.code).toBe(2);
      expect(run.lastLine).toBe(`devlogin: The provider's ${endpoint} (http://example.com/oauth) is not an HTTPS URL; refused.`);
      expect(recorder.urls).toEqual([`${run.fake.issuer}/.well-known/openid-configuration`]);
      expect(run.stderr).not.toContain('one-time code');
      await expectNothingStored(run.h);
      expect(await auditOf(run.h)).toEqual([expect.objectContaining({ event: 'login_failed', outcome: 'failure', reason: 'insecure_endpoint' })]);
    },
  );

  it('exits 7 and stores nothing when --dpop is demanded but the provider returns a Bearer token', async () => {
    const run = await loginAgainst({ discovery: { dpop_signing_alg_values_supported: ['ES256'] }, token: [{ tokens: { tokenType: 'Bearer' } }] }, ['--dpop']);
    expect(run.code).toBe(7);
    expect(run.lastLine).toBe('devlogin: The provider did not bind the tokens to the DPoP key (token_type is not DPoP), and DPoP is required.');
    expect(run.fake.tokenRequests).toHaveLength(1);
    await expectNothingStored(run.h);
    await expect(readFile(join(run.h.home, 'config.json'))).rejects.toThrow(/ENOENT/);
    expect(await findLeaks(run.fake.issued, { home: run.h.home, texts: [run.stdout, run.stderr] })).toEqual([]);
    expect(await auditOf(run.h)).toEqual([expect.objectContaining({ event: 'login_failed', outcome: 'failure', reason: 'dpop_not_bound' })]);
  });

  it('exits 5 when the provider says the code expired (expired_token)', async () => {
    const run = await loginAgainst({ token: [pending, { status: 400, json: { error: 'expired_token' } }] });
    expect(run.code).toBe(5);
    expect(run.lastLine).toBe('devlogin: The code expired before the sign-in was completed. Run devlogin login again and approve within the time shown.');
    await expectNothingStored(run.h);
  });

  it('rides out a 502 and a dropped connection during polling, then signs in', async () => {
    const run = await loginAgainst({ token: [{ status: 502, body: 'bad gateway' }, 'hangup', { tokens: {} }], device: { interval: 1 } }, ['--json']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('The provider did not answer (HTTP 502); retrying in 2s.');
    expect(run.stderr).toContain('The provider did not answer (no answer from the provider); retrying in 4s.');
    expect(run.sleeps).toEqual([1250, 2250, 4250]);
    expect(run.sessions).toHaveLength(1);
    expect(run.fake.tokenRequests).toHaveLength(3);
  });

  it('warns when the provider grants more scope than requested', async () => {
    const run = await loginAgainst({ token: [{ tokens: { scope: 'openid email admin:all' } }] }, ['--scope', 'openid email']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('warning: the provider granted more than requested: admin:all');
  });
});

describe('a login that replaces a session', () => {
  it('revokes the readable session it replaces at the provider and audits "replaced"', async () => {
    const h = await createHarness();
    expect((await signIn(h, provider)).code).toBe(0);
    const old = provider.issued.at(-1)!;
    const [oldLogin] = await auditOf(h);

    const second = await signIn(h, provider, { user: 'bob' });
    expect(second.code).toBe(0);
    expect(second.stderr).not.toContain('warning');
    expect((await introspect(provider, old.refresh_token!)).active).toBe(false);
    expect((await introspect(provider, old.access_token!)).active).toBe(false);
    const audit = await auditOf(h);
    expect(audit.slice(1)).toEqual([
      { event: 'logout', profile: 'default', outcome: 'success', reason: 'replaced', revocation: 'revoked', issuer: provider.issuer, subject: 'alice', clientId: provider.clientId, sessionId: oldLogin!.sessionId },
      expect.objectContaining({ event: 'login', outcome: 'success', subject: 'bob' }),
    ]);
    expect(await sessionFiles(h)).toEqual(['/sessions/default.json.enc']);
    expect([...h.keyStore.items.keys()]).toEqual([keyAccount(h)]);
    expect(jsonLines((await h.run(['whoami', '--json'])).stdout)[0]).toMatchObject({ subject: 'bob', session_id: audit[2]!.sessionId });
  });

  it('warns and audits when it cannot open the session it replaces (another passphrase), and the new session works', async () => {
    const h = await createHarness({ DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'passphrase A' });
    expect((await signIn(h, provider)).code).toBe(0);
    const old = provider.issued.at(-1)!;
    const [oldLogin] = await auditOf(h);

    const passphraseB = { DEVLOGIN_VAULT_PASSPHRASE: 'passphrase B' };
    const second = await signIn(h, provider, { user: 'bob', env: passphraseB });
    expect(second.code).toBe(0);
    expect(second.stderr).toContain('warning: The session this login replaced could not be opened (Wrong vault passphrase, or the session file was tampered with.); it was overwritten without being revoked at the provider.\n');
    const audit = await auditOf(h);
    expect(audit.slice(1)).toEqual([
      { event: 'logout', profile: 'default', outcome: 'failure', reason: 'replaced_unreadable', revocation: 'not_asked', issuer: provider.issuer, subject: 'alice', clientId: provider.clientId, sessionId: oldLogin!.sessionId },
      expect.objectContaining({ event: 'login', outcome: 'success', subject: 'bob' }),
    ]);
    // What the warning says is true: the old tokens were not revoked.
    expect((await introspect(provider, old.refresh_token!)).active).toBe(true);

    const whoami = await h.run(['whoami', '--json'], { env: passphraseB });
    expect(whoami.code).toBe(0);
    expect(jsonLines(whoami.stdout)[0]).toMatchObject({ subject: 'bob', vault: 'passphrase', session_id: audit[2]!.sessionId });
    expect((await h.run(['whoami'])).code).toBe(EXIT.vault); // passphrase A no longer opens anything
  });
});

describe('policy file', () => {
  async function withPolicy(policy: unknown, env: Record<string, string> = {}): Promise<Harness & { policyPath: string }> {
    const h = await createHarness(env);
    const policyPath = join(h.home, 'policy.json');
    await writeFile(policyPath, typeof policy === 'string' ? policy : JSON.stringify(policy));
    h.env.DEVLOGIN_POLICY = policyPath;
    return Object.assign(h, { policyPath });
  }

  const refusal = (h: { policyPath: string }, rule: string, message: string) =>
    `devlogin: Refused by the devlogin policy (${h.policyPath}, rule "${rule}"): ${message} Ask the administrator who set it if you need an exception.\n`;

  /** A login the policy refuses: no request at all. */
  async function refused(h: Harness, argv: string[]): Promise<RunResult> {
    const recorder = recordingFetch();
    const result = await h.run(argv, { fetch: recorder.fetch });
    expect(recorder.urls).toEqual([]);
    return result;
  }

  it('allowedIssuers refuses other issuers and allows the listed one', async () => {
    const h = await withPolicy({ allowedIssuers: [`${provider.issuer}/`] });
    const other = await refused(h, ['login', '--issuer', 'https://login.example.com', '--client-id', 'x']);
    expect(other).toMatchObject({ code: 2, stdout: '', stderr: refusal(h, 'allowedIssuers', 'the issuer https://login.example.com is not one of the allowed issuers.') });
    expect((await signIn(h, provider)).code).toBe(0);
  });

  it('maxSession refuses a longer --max-session and caps the default', async () => {
    const h = await withPolicy({ maxSession: '30m' });
    expect(await refused(h, loginArgs(provider, ['--max-session', '2h']))).toMatchObject({ code: 2, stdout: '', stderr: refusal(h, 'maxSession', 'sessions may last at most 30m, and 2h was asked for (--max-session).') });
    const run = await signIn(h, provider);
    expect(run.code).toBe(0);
    expect(jsonLines(run.stdout)[1]).toMatchObject({ session_expires_at: iso(clockSeconds(h) + 1800) });
  });

  it('allowedScopes refuses a scope not listed, and allows the listed ones', async () => {
    const h = await withPolicy({ allowedScopes: ['profile', 'email'] });
    expect(await refused(h, loginArgs(provider))).toMatchObject({ code: 2, stderr: refusal(h, 'allowedScopes', 'the scope offline_access may not be requested.') });
    expect((await signIn(h, provider, { args: ['--scope', 'openid email'] })).code).toBe(0);
  });

  it('requireDpop refuses --no-dpop and makes DPoP mandatory', async () => {
    const h = await withPolicy({ requireDpop: true });
    expect(await refused(h, loginArgs(provider, ['--no-dpop']))).toMatchObject({ code: 2, stderr: refusal(h, 'requireDpop', 'sessions must be DPoP-bound, and --no-dpop was given.') });
    const plain = await startProvider({ dpop: false });
    try {
      const result = await loginTo(h, plain);
      expect(result.code, result.stderr).toBe(7);
      expect(lastLine(result.stderr)).toMatch(/^devlogin: The provider http:\/\/127\.0\.0\.1:\d+ does not support DPoP/);
      await expectNothingStored(h);
    } finally {
      await plain.close();
    }
    const run = await signIn(h, provider);
    expect(jsonLines(run.stdout)[1]).toMatchObject({ dpop_bound: true });
  });

  it('allowPassphraseVault false refuses the passphrase vault, before any code is shown', async () => {
    const h = await withPolicy({ allowPassphraseVault: false }, { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'correct horse battery staple' });
    expect(await refused(h, loginArgs(provider))).toMatchObject({ code: 2, stdout: '', stderr: refusal(h, 'allowPassphraseVault', 'sessions may not be stored in the passphrase vault, and DEVLOGIN_VAULT=passphrase was given.') });
  });

  it.each([
    ['{ nope', 'is not valid JSON'],
    ['[]', 'must hold a JSON object'],
    ['{"maxSesion": "1h"}', 'has unknown rules: maxSesion'],
    ['{"maxSession": "forever"}', '"maxSession" must be a duration such as "8h"'],
    ['{"allowedIssuers": "https://a"}', '"allowedIssuers" must be a list of strings'],
    ['{"requireDpop": "yes"}', '"requireDpop" must be true or false'],
  ])('a broken policy (%s) fails closed with exit 2', async (text, reason) => {
    const h = await withPolicy(text);
    const result = await refused(h, loginArgs(provider));
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`devlogin: The devlogin policy ${h.policyPath} ${reason}. devlogin refuses to sign in until the administrator fixes it (set DEVLOGIN_POLICY to test another file).\n`);
  });

  it('parses a full policy', () => {
    expect(parsePolicy(JSON.stringify({ maxSession: '8h', allowedIssuers: ['https://a.example/'], requireDpop: true, allowPassphraseVault: false, allowedScopes: ['Email'], trustedVerificationHosts: ['Microsoft.com'] }), '/p'))
      .toEqual({ path: '/p', maxSessionSeconds: 28800, allowedIssuers: ['https://a.example'], requireDpop: true, allowPassphraseVault: false, allowedScopes: ['email'], trustedVerificationHosts: ['microsoft.com'] });
    expect(() => parsePolicy('{"maxSession": 0}', '/p')).toThrow(expect.objectContaining({ exitCode: EXIT.usage }));
  });
});

describe('verification page host', () => {
  it.each([
    ['https://login.microsoftonline.com/common/oauth2/deviceauth', 'https://login.microsoftonline.com/tenant/v2.0', [], false],
    ['https://microsoft.com/devicelogin', 'https://login.microsoftonline.com/tenant/v2.0', [], true],
    ['https://microsoft.com/devicelogin', 'https://login.microsoftonline.com/tenant/v2.0', ['microsoft.com'], false],
    ['https://device.auth.example.co.uk/', 'https://login.example.co.uk', [], false],
    ['https://example-login.co.uk/', 'https://login.example.co.uk', [], true],
    ['https://sso.corp.example.com/device', 'https://idp.example.com', [], false],
  ] as const)('%s for issuer %s (trusted %j): warns %s', (uri, issuer, trusted, warns) => {
    expect(verificationHostWarning(uri, issuer, trusted) !== undefined).toBe(warns);
  });

  it('login warns loudly when the page is elsewhere, unless the profile trusts that host', async () => {
    const fake = await fakeProvider({ device: { verification_uri: 'https://micros0ft-login.example/device', verification_uri_complete: undefined }, token: [{ tokens: {} }] });
    const h = await createHarness();
    const warned = await loginTo(h, fake, ['--json']);
    expect(warned.code).toBe(0);
    const warning = 'The sign-in page is on micros0ft-login.example, not on the issuer\'s site (127.0.0.1). Enter the code only if you expected this page; if in doubt, press Ctrl-C.';
    expect(warned.stderr).toContain(`\n\n  !! ${warning}\n  Your one-time code: WDJB-MJHT\n`);
    expect(jsonLines(warned.stdout)[0]).toMatchObject({ event: 'verification', warning });

    await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { default: { issuer: fake.issuer, clientId: fake.clientId, trustedVerificationHosts: ['micros0ft-login.example'] } } }));
    const trusted = await h.run(['login']);
    expect(trusted.code).toBe(0);
    expect(trusted.stderr).not.toContain('!!');
    expect(trusted.stderr).toContain('  Enter it at:        https://micros0ft-login.example/device\n');
  });
});
