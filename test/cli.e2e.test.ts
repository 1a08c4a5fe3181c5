/**
 * The built CLI as a child process, for what only a real process proves:
 * the bundle and what it loads, the whole sign-in to revocation against the
 * real provider, Ctrl-C, exec's child (environment, argv, stdin, exit codes,
 * signals) and several processes refreshing one session at once. .ci/run runs
 * this file again on Node 22, 24 and 26 (DEVLOGIN_TEST_NODE).
 */
import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, NODE, findLeaks, readAuditEvents, readTree, runCli, runProbed, startCli, useTempHomes, type TestHome } from './helpers/cli.js';
import { signInHome } from './helpers/harness.js';
import { introspect, signIn, startProvider } from './helpers/session.js';

let provider: LocalProvider;
const makeHome = useTempHomes();

beforeAll(async () => {
  // 30 s tokens at sign-in (inside token's 60 s margin, so the first use refreshes), 10 min after a refresh.
  provider = await startProvider({ accessTokenTtl: (grant) => (grant === 'refresh_token' ? 600 : 30) });
});
afterAll(async () => {
  await provider.close();
});

/**
 * A fresh home with a signed-in Bearer session (signed in in-process: the
 * first test signs in with the built CLI); returns the tokens the provider
 * issued for it.
 */
async function signedIn(): Promise<{ h: TestHome; accessToken: string; refreshToken: string }> {
  const h = await makeHome();
  const before = provider.issued.length;
  const run = await signInHome(h, provider, { args: ['--no-dpop'] });
  expect(run.code, run.stderr).toBe(0);
  const issued = provider.issued.slice(before).at(-1)!;
  return { h, accessToken: issued.access_token!, refreshToken: issued.refresh_token! };
}

const tokenRequests = () => provider.requests.get('/token') ?? 0;
const sessionFiles = async (h: TestHome) => (await readTree(h.home)).filter((file) => file.path.includes('/sessions/'));

describe('a whole session with the built CLI', () => {
  it('signs in, answers whoami and token, revokes at the provider, and then knows nobody; no warning from Node', async () => {
    const h = await makeHome({ DEVLOGIN_VAULT: 'passphrase' }); // scrypt on every Node of the matrix
    const login = await signIn(provider, h, { args: ['--no-dpop'], user: 'carol' });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stderr).toContain('✓ Signed in as Carol <carol@example.test>');
    const issued = provider.issued.at(-1)!;

    const who = await runCli(['whoami', '--json'], h.env);
    expect(who.code).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ signed_in: true, subject: 'carol', issuer: provider.issuer, vault: 'passphrase', dpop_bound: false });

    const token = await runCli(['token'], h.env);
    expect(token.code).toBe(0);
    const refreshed = provider.issued.at(-1)!;
    expect(refreshed.access_token).not.toBe(issued.access_token); // the 30 s sign-in token was inside the margin
    expect(token.stdout).toBe(`${refreshed.access_token}\n`);

    const revoke = await runCli(['revoke'], h.env);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stderr).toBe(`Session of profile "default" (Carol) at ${provider.issuer}: revoked, confirmed by the provider.\n`);
    expect((await introspect(provider, refreshed.refresh_token!)).active).toBe(false);

    const after = await runCli(['whoami', '--json'], h.env);
    expect(after.code).toBe(3);
    expect(JSON.parse(after.stdout)).toEqual({ profile: 'default', signed_in: false, reason: 'not_signed_in' });
    expect(await sessionFiles(h)).toEqual([]);
    for (const run of [login, who, token, revoke, after]) expect(run.stderr).not.toMatch(/Warning|DeprecationWarning|ExperimentalWarning/);
    expect(await findLeaks([issued.access_token!, issued.refresh_token!, refreshed.access_token!], { home: h.home, texts: [login.stdout, login.stderr, who.stdout, revoke.stderr] })).toEqual([]);
  });

  it('whoami and token load one bundle and no OIDC, prompt, browser or proxy code', async () => {
    const { h } = await signedIn();
    await runCli(['token'], h.env); // refresh now, so the probed token call has nothing to refresh
    // Newer Nodes start their ES module loader for any program: devlogin must add nothing to what an empty one loads.
    const empty = join(h.home, 'empty.cjs');
    await writeFile(empty, '');
    const bare = await runProbed(h, [], h.env, empty);
    for (const command of [['whoami'], ['token']]) {
      const run = await runProbed(h, command);
      expect(run.status, run.stderr).toBe(0);
      const ours = run.files.filter((file) => !file.includes('node_modules') && !file.endsWith('probe.cjs'));
      expect(ours.map((file) => file.replace(/.*\/(bin|dist)\//, '$1/'))).toEqual(['bin/devlogin', 'dist/devlogin.cjs']);
      for (const heavy of ['openid-client', 'oauth4webapi', 'jose', 'ora', 'qrcode-terminal', '/open/', 'undici', 'tldts', 'chalk']) {
        expect(run.files.filter((file) => file.includes(heavy)), heavy).toEqual([]);
      }
      if (!bare.builtins.includes('internal/modules/esm/loader')) expect(run.builtins).not.toContain('internal/modules/esm/loader');
      // With stdout and stderr pipes, as in TOKEN=$(devlogin token), output is written to the descriptors: no socket or terminal streams.
      expect(run.stdout.length).toBeGreaterThan(0);
      for (const streams of ['net', 'tty']) expect(run.builtins, streams).not.toContain(streams);
      // The lock is released with unlink: rmSync would load Node's rimraf.
      expect(run.builtins).not.toContain('internal/fs/rimraf');
      // And with all three on /dev/null, as in `devlogin whoami >/dev/null 2>&1 </dev/null` from cron: a character device, but no terminal.
      const quiet = await runProbed(h, command, h.env, BIN, [], 'ignore');
      expect(quiet.status).toBe(0);
      for (const streams of ['net', 'tty']) expect(quiet.builtins, streams).not.toContain(streams);
    }
  });

  it('--version and --help answer without a session or a vault', async () => {
    const h = await makeHome({ DEVLOGIN_VAULT: undefined, DEVLOGIN_VAULT_PASSPHRASE: undefined });
    const version = await runCli(['--version'], h.env);
    expect(version).toMatchObject({ code: 0, stderr: '' });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const help = await runCli(['--help'], h.env);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: devlogin [options] [command]');
  });

  it('stops a login on Ctrl-C with exit 130 and stores nothing', async () => {
    const h = await makeHome();
    const cli = startCli(['login', '--json', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
    await cli.waitForEvent('verification');
    cli.child.kill('SIGINT');
    const result = await cli.done;
    expect(result.code).toBe(130);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toBe('devlogin: Interrupted; nothing was stored.');
    expect(await sessionFiles(h)).toEqual([]);
  });

  it('8 processes at once: exactly one refresh reaches the provider and all get the new token', async () => {
    const { h } = await signedIn();
    const requests = tokenRequests();
    const results = await Promise.all(Array.from({ length: 8 }, () => runCli(['token'], h.env)));
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(0));
    const refreshed = provider.issued.at(-1)!.access_token;
    expect(new Set(results.map((r) => r.stdout))).toEqual(new Set([`${refreshed}\n`]));
    expect(tokenRequests()).toBe(requests + 1);
    expect((await readAuditEvents(h)).filter((event) => event.event === 'refresh')).toHaveLength(1);
  });

  it('into a non-blocking pipe that fills up, the rest of the output goes through Node\'s own stream: all of it arrives, in order', async () => {
    const h = await makeHome();
    const expected = spawnSync(NODE, [BIN, 'completion', 'zsh'], { env: h.env, encoding: 'utf8' }).stdout;
    expect(expected.length).toBeGreaterThan(4096);
    // A 4 KiB pipe, its writing end made non-blocking (as another process sharing it can do), read only after 0.5 s: writeSync meets EAGAIN.
    const helper = `
import fcntl, os, subprocess, sys, time
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
child = subprocess.Popen(sys.argv[1:], stdout=w, stderr=subprocess.PIPE)
os.close(w)
time.sleep(0.5)
out = b''
while chunk := os.read(r, 65536):
    out += chunk
err = child.stderr.read()
sys.stdout.buffer.write(out)
sys.stderr.buffer.write(err)
sys.exit(child.wait())`;
    const run = spawnSync('python3', ['-c', helper, NODE, BIN, 'completion', 'zsh'], { env: h.env, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(expected);
  });

  it('token into a pipe whose reader has gone exits 0, with nothing on stderr', async () => {
    const { h } = await signedIn();
    // Not spawnSync: the provider answers the refresh from this process.
    const child = spawn('bash', ['-c', 'set -o pipefail; "$0" "$1" token | true', NODE, BIN], { env: h.env });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('exec', () => {
  it('puts the token in the environment, not argv, and passes exit codes, stdin and signals through', async () => {
    const { h } = await signedIn();
    const token = (await runCli(['token'], h.env)).stdout.trim();
    const script = 'let input="";process.stdin.on("data",d=>input+=d).on("end",()=>{console.log(JSON.stringify({env:{t:process.env.DEVLOGIN_ACCESS_TOKEN,type:process.env.DEVLOGIN_TOKEN_TYPE,iss:process.env.DEVLOGIN_ISSUER,p:process.env.DEVLOGIN_PROFILE},argv:process.argv,input}));process.exit(42)})';
    const run = spawnSync(NODE, [BIN, 'exec', '--', process.execPath, '-e', script], { env: h.env, input: 'hello from stdin', encoding: 'utf8' });
    expect(run.status).toBe(42);
    const seen = JSON.parse(run.stdout) as { env: Record<string, string>; argv: string[]; input: string };
    expect(seen.env).toEqual({ t: token, type: 'Bearer', iss: provider.issuer, p: 'default' });
    expect(seen.argv.join(' ')).not.toContain(token);
    expect(seen.input).toBe('hello from stdin');

    const killed = spawnSync(NODE, [BIN, 'exec', '--', 'sh', '-c', 'kill -TERM $$'], { env: h.env, encoding: 'utf8' });
    expect(killed.status).toBe(143);
    const missing = spawnSync(NODE, [BIN, 'exec', '--', 'no-such-command-devlogin'], { env: h.env, encoding: 'utf8' });
    expect(missing.status).toBe(127);
    expect(missing.stderr).toBe('devlogin: cannot run "no-such-command-devlogin": command not found\n');
    const noCommand = spawnSync(NODE, [BIN, 'exec'], { env: h.env, encoding: 'utf8' });
    expect(noCommand.status).toBe(2);
    expect(noCommand.stderr).toBe('devlogin: exec needs a command to run. Use: devlogin exec -- COMMAND [ARGS...]\n');
    expect((await readAuditEvents(h)).filter((event) => event.event === 'exec').map((event) => event.command)).toEqual([basename(process.execPath), 'sh', 'no-such-command-devlogin']);
  });

  it('forwards Ctrl-C to the child and exits as the child did', async () => {
    const { h } = await signedIn();
    // A node child, not sh: dash can lose a trapped SIGINT that lands while it forks its loop's next command.
    const script = 'process.on("SIGINT", () => { console.log("got-int"); process.exit(7); }); console.log("ready"); setInterval(() => {}, 1000);';
    const child = spawn(NODE, [BIN, 'exec', '--', process.execPath, '-e', script], { env: h.env });
    let out = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready')) resolve();
    }));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(out).toContain('got-int');
    expect(code).toBe(7);
  });
});
