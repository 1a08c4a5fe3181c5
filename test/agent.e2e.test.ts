/**
 * The opt-in agent (devlogin agent start|stop|status): session keys held in
 * memory so that whoami and token skip the keychain. The built CLI as child
 * processes, the real local provider, a real gnome-keyring Secret Service on
 * the private D-Bus session of the global setup. An agent may only ever make
 * an answer faster: never different, never from a session that has ended or
 * changed, and it must never hold the vault passphrase.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { exchangeSync } from '../src/cli/agent-exchange.js';
import { createKeyCache } from '../src/core/vault/key-cache.js';
import { BIN, keychainEnv, maskRelativeTimes, readAuditEvents, runCli, runProbed, useTempHomes, withoutTime, type TestHome } from './helpers/cli.js';
import { introspect, signIn, startProvider } from './helpers/session.js';

const secretService = inject('secretService');
const FULL_CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

describe('the key cache', () => {
  const key = Buffer.alloc(32, 7);

  it('hands a key back only for the session it was read for, and only before that session ends', () => {
    const cache = createKeyCache();
    cache.set('default', 'session-1', key, 1000);
    expect(cache.get('default', 'session-1', 999)).toEqual(key);
    // Another session id (a new sign-in): the held key is dropped, not handed out.
    expect(cache.get('default', 'session-2', 999)).toBeUndefined();
    expect(cache.entries()).toEqual([]);
    cache.set('default', 'session-1', key, 1000);
    expect(cache.get('default', 'session-1', 1000)).toBeUndefined();
    expect(cache.entries()).toEqual([]);
  });

  it('keeps its own copy, and overwrites it when forgetting', () => {
    const cache = createKeyCache();
    const mine = Buffer.from(key);
    cache.set('ci', 's', mine, 10);
    mine.fill(1);
    const handed = cache.get('ci', 's', 0)!;
    expect(handed).toEqual(key);
    handed.fill(2); // a caller's copy does not reach the held key
    expect(cache.get('ci', 's', 0)).toEqual(key);
    cache.forgetAll();
    expect(cache.get('ci', 's', 0)).toBeUndefined();
    expect(cache.entries()).toEqual([]);
  });
});

describe('devlogin agent: bad input', () => {
  const homes = useTempHomes();

  it.each([
    [['agent'], 'devlogin: Missing agent action. Use "devlogin agent start", "devlogin agent stop" or "devlogin agent status".'],
    [['agent', 'restart'], 'devlogin: command-argument value \'restart\' is invalid for argument \'action\'. Allowed choices are start, stop, status. (see devlogin --help)'],
    [['agent', 'start', '--idle', 'soon'], 'devlogin: Invalid idle time "soon". Use a number of seconds or a value like 90s, 15m, 1h.'],
    [['agent', 'start', '--idle', '13h'], 'devlogin: Invalid idle time "13h": at most 12h.'],
    [['agent', 'status', '--idle', '5m'], 'devlogin: --idle goes with "devlogin agent start", not "status".'],
    [['agent', 'start', '--json'], 'devlogin: --json goes with "devlogin agent status", not "start".'],
    [['agent', 'stop', '--foreground'], 'devlogin: --foreground goes with "devlogin agent start", not "stop".'],
  ])('%j: exit 2 and one line', async (args, line) => {
    const h = await homes();
    const result = await runCli(args, h.env);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`${line}\n`);
    expect(result.stdout).toBe('');
    expect(existsSync(join(h.home, 'agent'))).toBe(false);
  });

  it('leaves alone a file in the way of its folder', async () => {
    const h = await homes();
    await writeFile(join(h.home, 'agent'), 'not a folder');
    const result = await runCli(['agent', 'start'], h.env);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`devlogin: ${join(h.home, 'agent')} is in the way of the agent's folder and is not one. Move it away, then start the agent again.\n`);
    expect(await readFile(join(h.home, 'agent'), 'utf8')).toBe('not a folder');
  });

  it('status and stop with no agent: exit 0, nothing to do', async () => {
    const h = await homes();
    expect(await runCli(['agent', 'status'], h.env)).toMatchObject({ code: 0, stdout: 'No agent is running.\n', stderr: '' });
    expect(await runCli(['agent', 'status', '--json'], h.env)).toMatchObject({ code: 0, stdout: '{"running":false}\n', stderr: '' });
    expect(await runCli(['agent', 'stop'], h.env)).toMatchObject({ code: 0, stdout: '', stderr: 'No agent is running; nothing to do.\n' });
  });
});

describe.skipIf(!secretService)('devlogin agent with the OS keychain vault', () => {
  let provider: LocalProvider;
  const homes = useTempHomes();
  const started: TestHome[] = [];

  beforeAll(async () => {
    provider = await startProvider({ accessTokenTtl: 3600 });
  });
  afterAll(() => provider.close());
  afterEach(async () => {
    // An agent left running would outlive the test run.
    for (const h of started.splice(0)) expect((await runCli(['agent', 'stop'], h.env)).code).toBe(0);
  });
  afterAll(() => {
    // Whatever a test did, no agent of a test home may be left behind (and none is: this kills it and fails).
    const leaked = testAgents();
    for (const pid of leaked) process.kill(pid, 'SIGKILL');
    expect(leaked).toEqual([]);
  });

  const keychainHome = (): Promise<TestHome> => homes(keychainEnv(secretService!.address));

  async function signedIn(args: string[] = []): Promise<TestHome> {
    const h = await keychainHome();
    const login = await signIn(provider, h, { args: ['--no-dpop', ...args] });
    expect(login.code, login.stderr).toBe(0);
    return h;
  }

  async function startAgent(h: TestHome, args: string[] = []): Promise<number> {
    const result = await runCli(['agent', 'start', ...args], h.env);
    expect(result.code, result.stderr).toBe(0);
    started.push(h);
    const match = /^Agent started \(pid (\d+)\)\./.exec(result.stderr);
    expect(result.stderr).not.toContain('passphrase');
    expect(match, result.stderr).not.toBeNull();
    return Number(match![1]);
  }

  async function status(h: TestHome): Promise<Record<string, unknown>> {
    const result = await runCli(['agent', 'status', '--json'], h.env);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Record<string, unknown>;
  }

  /** Which of the client's files a run loaded: the agent answered when fast-local.cjs and the keyring binding were not. */
  async function probe(h: TestHome, args: string[], env: NodeJS.ProcessEnv = h.env, expectedCode = 0): Promise<{ stdout: string; answeredByAgent: boolean }> {
    const loaded = await runProbed(h, args, env);
    expect(loaded.status, loaded.stderr).toBe(expectedCode);
    const local = loaded.files.some((path) => path.endsWith('/dist/cli/fast-local.cjs') || path.includes('@napi-rs/keyring'));
    // The agent's client needs neither sockets nor crypto: loading those costs more than its answer.
    if (!local) expect(loaded.builtins.filter((name) => ['net', 'crypto', 'internal/modules/esm/loader'].includes(name))).toEqual([]);
    return { stdout: loaded.stdout, answeredByAgent: !local };
  }

  const waitFor = async (what: () => Promise<boolean> | boolean, ms = 3000) => {
    for (const until = Date.now() + ms; Date.now() < until; await new Promise((resolve) => setTimeout(resolve, 50))) {
      if (await what()) return true;
    }
    return what();
  };

  it('answers whoami and token with the bytes and audit events of the full CLI, from the key it holds', async () => {
    const h = await signedIn();
    const pid = await startAgent(h);
    const dir = join(h.home, 'agent');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const pipes = readdirSync(dir).sort();
    expect(pipes).toEqual(['reply-0', 'reply-1', 'reply-2', 'reply-3', 'reply-4', 'reply-5', 'reply-6', 'reply-7', 'requests']);
    for (const name of pipes) {
      expect(statSync(join(dir, name)).isFIFO()).toBe(true);
      expect(statSync(join(dir, name)).mode & 0o777).toBe(0o600);
    }
    expect(await status(h)).toMatchObject({ running: true, pid, dir, keys_held: [] });

    for (const args of [['whoami'], ['whoami', '--json'], ['token'], ['token', '--json', '--min-ttl', '5m']]) {
      const before = (await readAuditEvents(h)).length;
      const viaAgent = await probe(h, args);
      const full = spawnSync(process.execPath, [FULL_CLI, ...args], { env: h.env, encoding: 'utf8' });
      expect(full.status, full.stderr).toBe(0);
      expect(viaAgent.answeredByAgent, args.join(' ')).toBe(true);
      expect(maskRelativeTimes(viaAgent.stdout)).toBe(maskRelativeTimes(full.stdout));
      const events = (await readAuditEvents(h)).slice(before).map(withoutTime);
      expect(events).toHaveLength(args[0] === 'token' ? 2 : 0);
      if (events.length === 2) expect(events[0]).toEqual(events[1]);
    }
    const held = await status(h);
    expect(held.keys_held).toEqual([{ profile: 'default', session_expires_at: expect.any(String) }]);
    // The agent keeps the key and nothing else on disk: no token in any file.
    const tokenNow = (await runCli(['token'], h.env)).stdout.trim();
    const files = spawnSync('grep', ['-rl', '--', tokenNow, h.home], { encoding: 'utf8' });
    expect(files.stdout).toBe('');
  });

  it('hands a token to refresh to the full CLI, then serves the refreshed session', async () => {
    const h = await signedIn();
    await startAgent(h);
    const first = (await runCli(['token'], h.env)).stdout.trim();
    const refreshes = () => provider.requests.get('/token') ?? 0;
    const before = refreshes();
    const refreshed = await runCli(['token', '--min-ttl', '2h'], h.env);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshes()).toBe(before + 1);
    expect(refreshed.stdout.trim()).not.toBe(first);
    const after = await probe(h, ['token']);
    expect(after.answeredByAgent).toBe(true);
    expect(after.stdout.trim()).toBe(refreshed.stdout.trim());
  });

  it('8 processes at once on a token to refresh, agent running: one refresh reaches the provider, all get the new token', async () => {
    // Tokens that live 62 s: within token's default 60 s margin after 3 s, outside it once refreshed.
    const shortLived = await startProvider({ accessTokenTtl: 62 });
    try {
      const h = await keychainHome();
      const login = await signIn(shortLived, h, { args: ['--no-dpop'] });
      expect(login.code, login.stderr).toBe(0);
      await startAgent(h);
      expect((await runCli(['whoami'], h.env)).code).toBe(0); // the agent now holds the key
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const requests = shortLived.requests.get('/token') ?? 0;
      const results = await Promise.all(Array.from({ length: 8 }, () => runCli(['token'], h.env)));
      expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
      const refreshed = shortLived.issued.at(-1)!.access_token;
      expect(new Set(results.map((r) => r.stdout))).toEqual(new Set([`${refreshed}\n`]));
      expect(shortLived.requests.get('/token')).toBe(requests + 1);
      const again = await probe(h, ['token']);
      expect(again).toEqual({ stdout: `${refreshed}\n`, answeredByAgent: true });
    } finally {
      await shortLived.close();
    }
  });

  it('forgets a key as soon as its session is logged out, and serves a new sign-in with the new key', async () => {
    const h = await signedIn();
    await startAgent(h);
    expect((await runCli(['whoami'], h.env)).code).toBe(0);
    expect((await status(h)).keys_held).toHaveLength(1);

    expect((await runCli(['logout', '--local'], h.env)).code).toBe(0);
    expect(await waitFor(async () => ((await status(h)).keys_held as unknown[]).length === 0)).toBe(true);
    const gone = await runCli(['whoami', '--json'], h.env);
    expect(gone).toMatchObject({ code: 3, stdout: '{"profile":"default","signed_in":false,"reason":"not_signed_in"}\n' });

    const login = await signIn(provider, h, { args: ['--no-dpop'] });
    expect(login.code, login.stderr).toBe(0);
    const again = await probe(h, ['token']);
    expect(again.answeredByAgent).toBe(true);
    expect((await introspect(provider, again.stdout.trim())).active).toBe(true);
  });

  it('does not serve a session past its end: the full CLI purges it (exit 4) and the key is forgotten', async () => {
    const h = await signedIn(['--max-session', '2s']);
    await startAgent(h);
    expect((await runCli(['whoami'], h.env)).code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const ended = await runCli(['whoami'], h.env);
    expect(ended.code).toBe(4);
    expect(existsSync(join(h.home, 'sessions', 'default.json.enc'))).toBe(false);
    expect(await waitFor(async () => ((await status(h)).keys_held as unknown[]).length === 0)).toBe(true);
  });

  it('answers only clients with its own home, keychain service and bus; others read the vault themselves', async () => {
    const h = await signedIn();
    await startAgent(h);
    const other = { ...h.env, DEVLOGIN_KEYCHAIN_SERVICE: `${h.env.DEVLOGIN_KEYCHAIN_SERVICE}-other` };
    // Read under the other service, the key is missing: the client's own answer (exit 6), not the agent's.
    const result = await probe(h, ['whoami', '--json'], other, 6);
    expect(result.answeredByAgent).toBe(false);
    const direct = await runCli(['whoami'], other);
    expect(direct.code).toBe(6);
    expect(direct.stderr).toBe('devlogin: The key for profile "default" is missing from the OS keychain. Run "devlogin logout --local" to drop it, then sign in again.\n');
    // The same client with the agent's own environment is answered by it.
    expect((await probe(h, ['whoami', '--json'])).answeredByAgent).toBe(true);
  });

  it('never holds the vault passphrase (nor a token from exec), and leaves passphrase sessions to the client', async () => {
    const h = await homes();
    const login = await signIn(provider, h, { args: ['--no-dpop'] });
    expect(login.code, login.stderr).toBe(0);
    // Started from inside `devlogin exec`, as a script might.
    const launched = await runCli(['exec', '--', process.execPath, BIN, 'agent', 'start'], h.env);
    expect(launched.code, launched.stderr).toBe(0);
    started.push(h);
    expect(launched.stderr).toContain('\nSessions in the passphrase vault (default) are still read by each call: the agent serves keychain sessions only.\n');
    const pid = Number(/\(pid (\d+)\)/.exec(launched.stderr)![1]);
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    expect(environ.some((entry) => entry.startsWith('DEVLOGIN_VAULT_PASSPHRASE='))).toBe(false);
    expect(environ.some((entry) => entry.startsWith('DEVLOGIN_ACCESS_TOKEN='))).toBe(false);
    expect(environ).toContain('DEVLOGIN_PROFILE=default'); // exec's other variables pass: only secrets are dropped
    expect(environ).toContain(`DEVLOGIN_HOME=${h.home}`);
    const result = await probe(h, ['token']);
    expect(result.answeredByAgent).toBe(false);
    expect((await introspect(provider, result.stdout.trim())).active).toBe(true);
  });

  it('stops on request, after its idle time, and on SIGTERM, removing its pipes each time', async () => {
    const h = await signedIn();
    const dir = join(h.home, 'agent');
    const pid = await startAgent(h);
    expect((await runCli(['agent', 'start'], h.env))).toMatchObject({ code: 0, stderr: `The agent is already running (pid ${pid}).\n` });
    expect(await runCli(['agent', 'stop'], h.env)).toMatchObject({ code: 0, stderr: `Agent stopped (pid ${pid}); the keys it held are forgotten.\n` });
    expect(existsSync(dir)).toBe(false);
    expect(await waitFor(() => !isAlive(pid))).toBe(true);
    expect(await status(h)).toEqual({ running: false });

    const idle = await startAgent(h, ['--idle', '1s']);
    expect(await waitFor(() => !isAlive(idle) && !existsSync(dir), 5000)).toBe(true);

    const foreground = spawn(process.execPath, [BIN, 'agent', 'start', '--foreground'], { env: h.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    foreground.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    expect(await waitFor(() => stderr.includes('Agent listening in'))).toBe(true);
    expect(stderr).toBe(`Agent listening in ${dir} (pid ${foreground.pid}); it stops after 1h without use. Ctrl-C stops it.\n`);
    foreground.kill('SIGTERM');
    const code = await new Promise((resolve) => foreground.on('exit', resolve));
    expect(code).toBe(0);
    expect(stderr.endsWith('Agent stopped; the keys it held are forgotten.\n')).toBe(true);
    expect(existsSync(dir)).toBe(false);
  });

  it('survives garbage on its pipe, and a client survives an agent that is gone', async () => {
    const h = await signedIn();
    const pid = await startAgent(h);
    const dir = join(h.home, 'agent');
    const requests = join(dir, 'requests');
    for (const junk of ['not json\n', '{"v":1,"op":"answer","slot":0,"nonce":"n","request":{"command":"rm"}}\n', '{"v":1,"op":"status","slot":99,"nonce":"n"}\n', `${'x'.repeat(5000)}`, '\n', '{"v":2,"op":"status","slot":0,"nonce":"n"}\n']) {
      appendFileSync(requests, junk);
    }
    expect(await status(h)).toMatchObject({ running: true, pid });
    expect((await probe(h, ['token'])).answeredByAgent).toBe(true);

    // Killed outright, it leaves its pipes behind: clients read the vault themselves at once, and a new agent takes the place.
    process.kill(pid, 'SIGKILL');
    expect(await waitFor(() => !isAlive(pid))).toBe(true);
    expect(existsSync(requests)).toBe(true);
    const token = await probe(h, ['token']);
    expect(token.answeredByAgent).toBe(false);
    expect((await introspect(provider, token.stdout.trim())).active).toBe(true);
    expect(readdirSync(dir).filter((name) => name.endsWith('.lock'))).toEqual([]);
    const next = await startAgent(h);
    expect(next).not.toBe(pid);
  });

  it('takes over reply slots whose client died, and reads the vault itself when every slot is busy', async () => {
    const h = await signedIn();
    await startAgent(h);
    const dir = join(h.home, 'agent');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    const lockAll = (owner: string) => {
      for (let slot = 0; slot < 8; slot += 1) writeFileSync(join(dir, `reply-${slot}.lock`), owner);
    };
    // Left by clients killed mid-call: taken over.
    lockAll(dead);
    const first = await probe(h, ['token']);
    expect(first.answeredByAgent).toBe(true);
    expect(existsSync(join(dir, 'reply-0.lock'))).toBe(false);
    // Held by a live process (this one): the client does not wait, and does not take them.
    lockAll(String(process.pid));
    const second = await probe(h, ['token']);
    expect(second.answeredByAgent).toBe(false);
    expect(second.stdout).toBe(first.stdout);
    expect(readFileSync(join(dir, 'reply-7.lock'), 'utf8')).toBe(String(process.pid));
    // `devlogin agent` waits for a slot, then tells a busy agent from none, and never starts a second one.
    expect(await runCli(['agent', 'status', '--json'], h.env)).toMatchObject({ code: 0, stdout: '{"running":true,"answering":false}\n' });
    expect(await runCli(['agent', 'start'], h.env)).toMatchObject({ code: 0, stderr: 'The agent is already running.\n' });
    expect(readdirSync(dir)).toContain('requests');
    for (let slot = 0; slot < 8; slot += 1) rmSync(join(dir, `reply-${slot}.lock`));
    expect(await status(h)).toMatchObject({ running: true, keys_held: [{ profile: 'default' }] });
  });

  it('leaves a client of another devlogin version to answer itself', async () => {
    const h = await signedIn();
    await startAgent(h);
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const env = Object.fromEntries(['HOME', 'DEVLOGIN_HOME', 'DEVLOGIN_KEYCHAIN_SERVICE', 'DBUS_SESSION_BUS_ADDRESS'].map((name) => [name, h.env[name]!]));
    const ask = (asVersion: string) => exchangeSync(join(h.home, 'agent'), { v: 1, op: 'answer', version: asVersion, request: { command: 'whoami', json: true, noColor: false, profile: undefined, minTtl: undefined }, env }, 5000)!;
    expect(ask('0.0.0-older')).toEqual({ v: 1, pass: 'local', nonce: expect.any(String) });
    const answered = ask(version);
    expect(answered).toMatchObject({ v: 1, exit: 0, stderr: '' });
    expect(JSON.parse(answered.stdout as string)).toMatchObject({ signed_in: true, subject: 'alice', vault: 'keychain' });
    expect((await status(h)).version).toBe(version);
  });

  it('says nothing secret about itself', async () => {
    const h = await signedIn();
    await startAgent(h);
    const token = (await runCli(['token'], h.env)).stdout.trim();
    const human = await runCli(['agent', 'status'], h.env);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^Agent running \(pid \d+, devlogin \d+\.\d+\.\d+\S*\) in .*\/agent\n {2}started {4}\S+\n {2}idle stop {2}\S+\n {2}keys held {2}default \(session ends \S+\)\n$/);
    const json = await runCli(['agent', 'status', '--json'], h.env);
    for (const text of [human.stdout, human.stderr, json.stdout, json.stderr]) expect(text).not.toContain(token);
  });
});

/** Running agents whose DEVLOGIN_HOME is a test home. */
function testAgents(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (!(argv.includes('agent') && argv.includes('--foreground'))) continue;
      const home = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').find((line) => line.startsWith('DEVLOGIN_HOME='));
      if (home?.startsWith(`DEVLOGIN_HOME=${join(tmpdir(), 'devlogin-test-')}`)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
