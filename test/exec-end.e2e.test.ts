/**
 * exec --scope and exec --end-session with real child processes, and audit
 * events in a real systemd journal (journald in a private mount namespace),
 * with the built CLI against the real provider.
 */
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, NODE, findLeaks, readAuditEvents, readTree, runCli, useTempHomes, type TestHome } from './helpers/cli.js';
import { signInHome } from './helpers/harness.js';
import { introspect, startProvider } from './helpers/session.js';

let provider: LocalProvider;
const makeHome = useTempHomes();

beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  await provider.close();
});

/**
 * A home with a session, signed in in-process (no real wait for the poll
 * interval) into the passphrase vault the child processes then open.
 */
async function signedIn(on: LocalProvider = provider, extra: NodeJS.ProcessEnv = {}): Promise<{ h: TestHome; refreshToken: string }> {
  const h = await makeHome(extra);
  const before = on.issued.length;
  const run = await signInHome(h, on, { args: ['--no-dpop'] });
  expect(run.code, run.stderr).toBe(0);
  return { h, refreshToken: on.issued.slice(before).at(-1)!.refresh_token! };
}

/** Runs devlogin exec asynchronously (the provider answers from this process). */
function execCli(args: string[], env: NodeJS.ProcessEnv, onStdout?: (text: string, child: ReturnType<typeof spawn>) => void) {
  const child = spawn(NODE, [BIN, 'exec', ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    onStdout?.(stdout, child);
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

const sessionFiles = async (h: TestHome) => (await readTree(h.home)).filter((file) => file.path.includes('/sessions/'));
const printEnv = 'console.log(JSON.stringify({ token: process.env.DEVLOGIN_ACCESS_TOKEN, passphrase: process.env.DEVLOGIN_VAULT_PASSPHRASE ?? null, key: process.env.DEVLOGIN_VAULT_KEY ?? null }))';

describe('exec --scope', () => {
  it('hands the child a token narrowed to the scope, and never the vault passphrase or key', async () => {
    const { h } = await signedIn();
    const run = await execCli(['--scope', 'openid', '--', process.execPath, '-e', printEnv], h.env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const seen = JSON.parse(run.stdout) as { token: string; passphrase: string | null; key: string | null };
    expect(seen.passphrase).toBeNull();
    expect(seen.key).toBeNull();
    expect((await introspect(provider, seen.token)).scope).toBe('openid');
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'exec', command: 'node', scope: 'openid' });
  });
});

describe('exec --end-session', () => {
  it('a child that exits 0: the session is revoked at the provider and removed, exit 0', async () => {
    const { h, refreshToken } = await signedIn();
    const run = await execCli(['--end-session', '--', process.execPath, '-e', printEnv], h.env);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('devlogin: the session of profile "default" ended with the command: revoked at the provider.\n');
    const { token } = JSON.parse(run.stdout) as { token: string };
    expect((await introspect(provider, token)).active).toBe(false);
    expect((await introspect(provider, refreshToken)).active).toBe(false);
    expect(await sessionFiles(h)).toEqual([]);
    expect((await readAuditEvents(h)).map(({ event, reason, outcome }) => ({ event, reason, outcome }))).toEqual([
      { event: 'login', reason: undefined, outcome: 'success' },
      { event: 'exec', reason: undefined, outcome: 'success' },
      { event: 'revoke', reason: 'end_session', outcome: 'success' },
    ]);
    expect((await runCli(['whoami'], h.env)).code).toBe(3);
  });

  it('a child that exits 3: the session ends all the same and devlogin exits 3', async () => {
    const { h, refreshToken } = await signedIn();
    const run = await execCli(['--end-session', '--', 'sh', '-c', 'exit 3'], h.env);
    expect(run.code).toBe(3);
    expect(run.stderr).toBe('devlogin: the session of profile "default" ended with the command: revoked at the provider.\n');
    expect((await introspect(provider, refreshToken)).active).toBe(false);
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('devlogin interrupted (SIGTERM, SIGINT, SIGHUP): the signal goes to the child, then the session ends', async () => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      const { h, refreshToken } = await signedIn();
      const script = `process.on(${JSON.stringify(signal)}, () => { console.log('child got ${signal}'); process.exit(42); }); console.log('ready'); setInterval(() => {}, 1000);`;
      let sent = false;
      const run = await execCli(['--end-session', '--', process.execPath, '-e', script], h.env, (out, child) => {
        if (!sent && out.includes('ready')) {
          sent = true;
          child.kill(signal);
        }
      });
      expect(run.stdout, signal).toBe(`ready\nchild got ${signal}\n`);
      expect(run.code, signal).toBe(42);
      expect(run.stderr, signal).toBe('devlogin: the session of profile "default" ended with the command: revoked at the provider.\n');
      expect((await introspect(provider, refreshToken)).active, signal).toBe(false);
      expect(await sessionFiles(h), signal).toEqual([]);
    }
  });

  it('when the provider cannot be told, the session is removed here anyway and the exit code says so (7)', async () => {
    const own = await startProvider();
    const { h } = await signedIn(own);
    const closed = own.close();
    const run = await execCli(['--end-session', '--', 'sh', '-c', 'exit 0'], h.env);
    await closed;
    expect(run.code).toBe(7);
    expect(run.stderr).toMatch(/^devlogin: warning: the session of profile "default" could not be revoked at the provider \(Could not reach the provider .*\); it was removed here, and its tokens stay valid at the provider until they expire\.\n$/);
    expect(await sessionFiles(h)).toEqual([]);
    expect((await readAuditEvents(h)).slice(-2).map(({ event, outcome, reason }) => ({ event, outcome, reason }))).toEqual([
      { event: 'revoke', outcome: 'failure', reason: 'network' },
      { event: 'logout', outcome: 'success', reason: 'end_session_not_revoked' },
    ]);
    const failed = await execCli(['--end-session', '--', 'sh', '-c', 'exit 5'], h.env);
    expect(failed.code).toBe(3); // nothing left to run it with
  });
});

const root = process.getuid?.() === 0 && spawnSync('unshare', ['--help']).status === 0 && spawnSync('test', ['-x', '/lib/systemd/systemd-journald']).status === 0;
if (!root && process.env.DEVLOGIN_REQUIRE_SYSTEM_TESTS === '1') throw new Error('the journal test needs root, unshare and systemd-journald');

describe.skipIf(!root)('DEVLOGIN_AUDIT_SYSLOG=journal (a real journald in a private mount namespace)', () => {
  it('puts every audit event in the journal, with the event\'s fields and no token', async () => {
    const { h, refreshToken } = await signedIn(provider, { DEVLOGIN_AUDIT_SYSLOG: 'journal' });
    // A private /run for journald and its readers: the machine's journal (if any) is never touched.
    const script = [
      'set -e',
      'mount -t tmpfs tmpfs /run',
      'mkdir -p /run/systemd/journal /run/log',
      '/lib/systemd/systemd-journald >/dev/null 2>&1 & jd=$!',
      'for i in $(seq 100); do [ -S /run/systemd/journal/socket ] && break; sleep 0.02; done',
      '"$NODE_BIN" "$DEVLOGIN_BIN" token --min-ttl 0 > /dev/null',
      'sleep 0.3',
      'journalctl -D /run/log/journal -o json --no-pager SYSLOG_IDENTIFIER=devlogin',
      'kill $jd',
    ].join('\n');
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn('unshare', ['-m', '--propagation', 'private', 'bash', '-c', script], { env: { ...h.env, NODE_BIN: NODE, DEVLOGIN_BIN: BIN } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(run.code, run.stderr).toBe(0);
    const entries = run.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, string>);
    const local = (await readAuditEvents(h)).at(-1)!;
    expect(entries).toHaveLength(1); // the login ran outside the namespace, where there is no journal
    expect(entries[0]).toMatchObject({
      MESSAGE: 'devlogin: token_read success profile=default subject=alice',
      PRIORITY: '6',
      SYSLOG_FACILITY: '10',
      DEVLOGIN_EVENT: 'token_read',
      DEVLOGIN_PROFILE: 'default',
      DEVLOGIN_OUTCOME: 'success',
      DEVLOGIN_SUBJECT: 'alice',
      DEVLOGIN_ISSUER: provider.issuer,
      DEVLOGIN_CLIENT_ID: provider.clientId,
      DEVLOGIN_SESSION_ID: String(local.sessionId),
      DEVLOGIN_TIME: String(local.time),
    });
    expect(await findLeaks([refreshToken], { home: h.home, texts: [run.stdout] })).toEqual([]);
  });
});
