/**
 * The fast path of bin/devlogin (src/cli/fast-path.ts): whoami and token on
 * a valid session, answered without commander or the ES module loader. It
 * must accept only argument lists it reads exactly as commander would,
 * print the same bytes as the full CLI, and really skip what it claims to.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { parseFastRequest } from '../src/cli/fast-args.js';
import { maskRelativeTimes, readAuditEvents, runCli, runProbed, useTempHomes, withoutTime, type TestHome } from './helpers/cli.js';
import { signIn, startProvider } from './helpers/session.js';

/** The full CLI, run directly: what bin/devlogin falls back to. */
const FULL_CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

describe('which argument lists the fast path takes', () => {
  it.each([
    [['whoami'], { command: 'whoami', profile: undefined, json: false, minTtl: undefined, noColor: false }],
    [['whoami', '--json'], { command: 'whoami', profile: undefined, json: true, minTtl: undefined, noColor: false }],
    [['--profile', 'ci', 'whoami'], { command: 'whoami', profile: 'ci', json: false, minTtl: undefined, noColor: false }],
    [['whoami', '--profile=ci', '--no-color'], { command: 'whoami', profile: 'ci', json: false, minTtl: undefined, noColor: true }],
    [['--no-color', 'token', '--min-ttl', '5m', '--json'], { command: 'token', profile: undefined, json: true, minTtl: '5m', noColor: true }],
    [['token', '--min-ttl=0'], { command: 'token', profile: undefined, json: false, minTtl: '0', noColor: false }],
  ])('%j', (argv, expected) => {
    expect(parseFastRequest(argv)).toEqual(expected);
  });

  it.each([
    [[]],
    [['login']],
    [['whoami', '--online']],
    [['whoami', '--verbose']],
    [['whoami', '--help']],
    [['whoami', '-h']],
    [['--json', 'whoami']], // commander refuses --json before the command
    [['whoami', '--min-ttl', '5m']], // whoami has no --min-ttl
    [['token', '--min-ttl']],
    [['token', '--min-ttl', '--json']],
    [['whoami', '--profile', '']],
    [['whoami', '--profile', 'a', '--profile', 'b']],
    [['whoami', '--json', '--json']],
    [['whoami', '--json=yes']],
    [['whoami', 'extra']],
    [['whoami', 'token']],
    [['token', '--', 'x']],
    [['token', '-j']],
  ])('leaves %j to commander', (argv) => {
    expect(parseFastRequest(argv)).toBeUndefined();
  });
});

describe('on a valid session', () => {
  let provider: LocalProvider;
  let h: TestHome;
  const homes = useTempHomes();

  beforeAll(async () => {
    provider = await startProvider({ accessTokenTtl: 3600 });
    h = await homes();
    const login = await signIn(provider, h, { args: ['--no-dpop'] });
    expect(login.code, login.stderr).toBe(0);
  });
  afterAll(() => provider.close());

  const auditEvents = () => readAuditEvents(h);
  const full = (args: string[]) => spawnSync(process.execPath, [FULL_CLI, ...args], { env: h.env, encoding: 'utf8' });

  it.each([
    [['whoami']],
    [['whoami', '--json']],
    [['--profile=default', '--no-color', 'whoami', '--json']],
    [['token']],
    [['token', '--json', '--min-ttl', '5m']],
  ])('%j prints what the full CLI prints, and writes the same audit events', async (args) => {
    const before = (await auditEvents()).length;
    const fast = await runCli(args, h.env);
    const slow = full(args);
    expect(fast.code, fast.stderr).toBe(0);
    expect(slow.status, slow.stderr).toBe(0);
    expect(maskRelativeTimes(fast.stdout)).toBe(maskRelativeTimes(slow.stdout));
    expect(fast.stdout).not.toBe('');
    expect(fast.stderr).toBe('');
    const events = (await auditEvents()).slice(before).map(withoutTime);
    if (args.includes('token')) {
      expect(events).toHaveLength(2);
      expect(events[0]).toMatchObject({ event: 'token_read', profile: 'default', subject: 'alice' });
      expect(events[0]).toEqual(events[1]);
    } else {
      expect(events).toEqual([]);
    }
  });

  it('loads neither the full CLI (commander, the ES module loader) nor the OIDC client', async () => {
    // Records, at exit, the CommonJS modules loaded and whether the ES module loader started.
    const run = async (args: string[]) => {
      const result = await runProbed(h, args);
      expect(result.status, result.stderr).toBe(0);
      return { modules: result.files, esmLoader: result.builtins.includes('internal/modules/esm/loader') };
    };

    for (const args of [['whoami', '--json'], ['token']]) {
      const loaded = await run(args);
      expect(loaded.esmLoader, `${args.join(' ')} started the ES module loader`).toBe(false);
      expect(loaded.modules.some((path) => path.endsWith('/dist/cli/entry.cjs'))).toBe(true);
      expect(loaded.modules.filter((path) => /openid-client|oauth4webapi|jose|commander|qrcode|\/ora\/|\/open\/|undici|tldts/.test(path))).toEqual([]);
    }
    // The probe can tell: a command the fast path does not take starts the full CLI.
    expect((await run(['--version'])).esmLoader).toBe(true);
  });

  it('hands an expired access token to the full CLI, which refreshes it', async () => {
    const refreshes = () => provider.requests.get('/token') ?? 0;
    const before = refreshes();
    // A margin longer than the token's life: the token must be refreshed first.
    const result = await runCli(['token', '--min-ttl', '2h'], h.env);
    expect(result.code, result.stderr).toBe(0);
    expect(refreshes()).toBe(before + 1);
    expect((await auditEvents()).slice(-2).map((event) => event.event)).toEqual(['refresh', 'token_read']);
  });
});
