/**
 * A full disk, for real: the state folder is a 1 MiB tmpfs mounted in a
 * private mount namespace (the machine's mounts are never touched), filled
 * by this process through /proc/PID/root. A refresh spends the refresh token
 * at the provider, so devlogin makes room for the new session before it asks
 * for one; these tests check the session is never lost and no lock is left.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, fstatSync, ftruncateSync, openSync, readdirSync, readFileSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, useTempHomes, type CliResult, type TestHome } from './helpers/cli.js';
import { startFakeProvider, type FakeProvider } from './helpers/fake-provider.js';

const usable = process.getuid?.() === 0 && spawnSync('unshare', ['--help']).status === 0 && spawnSync('nsenter', ['--help']).status === 0;
if (!usable && process.env.DEVLOGIN_REQUIRE_SYSTEM_TESTS === '1') throw new Error('the full-disk tests need root, unshare and nsenter');

const PAGE = 4096;

interface SmallDisk {
  /** The state folder: the tmpfs, as devlogin inside the namespace sees it. */
  home: string;
  /** A path inside the tmpfs, as this process sees it (through the namespace's root). */
  inside(...parts: string[]): string;
  /** Fills the tmpfs, then frees `leave` bytes; returns what is free. */
  fill(leave?: number): number;
  unfill(): void;
  run(args: string[]): Promise<CliResult>;
}

describe.skipIf(!usable)('a full disk (a 1 MiB tmpfs in a private mount namespace)', () => {
  const homes = useTempHomes();
  const holders: ChildProcess[] = [];
  let fake: FakeProvider;
  /** One sign-in, copied onto each small disk. */
  let signedIn: TestHome;
  beforeAll(async () => {
    // A large ID token makes the session file several pages long: more than the room the tests leave.
    fake = await startFakeProvider({ token: [{ tokens: { claims: { padding: 'x'.repeat(12_000) } } }] });
    signedIn = await homes();
    const login = await runCli(['login', '--issuer', fake.issuer, '--client-id', fake.clientId], signedIn.env);
    expect(login.code, login.stderr).toBe(0);
    expect(readFileSync(join(signedIn.home, 'sessions', 'default.json.enc')).length).toBeGreaterThan(2 * PAGE);
  });
  afterAll(async () => {
    for (const holder of holders) holder.kill();
    await fake.close();
  });

  /** A 1 MiB disk holding a copy of the signed-in state folder. */
  async function signedInSmall(): Promise<SmallDisk> {
    const { home } = await homes();
    // The namespace lives as long as this sleep: every command joins it with nsenter.
    const holder = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m,mode=0700 tmpfs "$1" && cp -a "$2"/. "$1"/ && echo mounted && exec sleep 600', 'sh', home, signedIn.home], { stdio: ['ignore', 'pipe', 'inherit'] });
    holders.push(holder);
    await new Promise<void>((resolve, reject) => {
      holder.stdout!.once('data', () => resolve());
      holder.once('exit', (code) => reject(new Error(`unshare exited with ${code}`)));
    });
    const inside = (...parts: string[]) => join(`/proc/${holder.pid}/root`, home, ...parts);
    const free = () => {
      const info = statfsSync(inside());
      return info.bavail * info.bsize;
    };
    return {
      home,
      inside,
      fill(leave = 0) {
        const fd = openSync(inside('filler'), 'a', 0o600);
        try {
          for (const size of [64 * PAGE, PAGE]) {
            const chunk = Buffer.alloc(size);
            try {
              for (;;) writeSync(fd, chunk);
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
            }
          }
          const size = fstatSync(fd).size;
          ftruncateSync(fd, Math.max(0, size - (size % PAGE) - leave));
        } finally {
          closeSync(fd);
        }
        return free();
      },
      unfill: () => rmSync(inside('filler'), { force: true }),
      run: (args) => runCli(args, { ...signedIn.env, HOME: home, DEVLOGIN_HOME: home }, ['nsenter', '-t', String(holder.pid), '-m', '--']),
    };
  }

  const lastRefreshToken = () => fake.tokenRequests.at(-1)!.body.get('refresh_token');

  it('no room at all: the lock is refused with exit 6 and one line, nothing is asked of the provider, no lock is left behind', async () => {
    const disk = await signedInSmall();
    const session = readFileSync(disk.inside('sessions', 'default.json.enc'));
    const asked = fake.tokenRequests.length;
    expect(disk.fill()).toBe(0);
    const run = await disk.run(['token', '--min-ttl', '3600']);
    expect(run.code).toBe(6);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`devlogin: Cannot take the lock ${join(disk.home, 'locks', 'default.lock')}: no space left on the device. Free some space and try again; nothing was lost.\n`);
    expect(readdirSync(disk.inside('locks'))).toEqual([]);
    expect(fake.tokenRequests.length).toBe(asked);
    expect(readFileSync(disk.inside('sessions', 'default.json.enc'))).toEqual(session);
  });

  it('room for the lock but not for a new session: exit 6 before the refresh token is spent; with space again the same refresh token works', async () => {
    const disk = await signedInSmall();
    const session = readFileSync(disk.inside('sessions', 'default.json.enc'));
    const asked = fake.tokenRequests.length;
    expect(disk.fill(2 * PAGE)).toBe(2 * PAGE);
    const run = await disk.run(['token', '--min-ttl', '3600']);
    expect(run.code).toBe(6);
    expect(run.stderr).toBe(`devlogin: Cannot make room for the session in ${join(disk.home, 'sessions')}: no space left on the device. Free some space and try again; nothing was lost.\n`);
    expect(fake.tokenRequests.length).toBe(asked); // nothing spent
    expect(readFileSync(disk.inside('sessions', 'default.json.enc'))).toEqual(session);
    expect(readdirSync(disk.inside('sessions'))).toEqual(['default.json.enc']); // the room made was given back

    disk.unfill();
    const again = await disk.run(['token', '--min-ttl', '3600']);
    expect(again.code, again.stderr).toBe(0);
    expect(fake.tokenRequests.length).toBe(asked + 1);
  });

  it('the disk fills while the provider renews the tokens: the room made beforehand takes them, and the next refresh sends the new refresh token', async () => {
    const disk = await signedInSmall();
    let left = -1;
    fake.script.onToken = () => {
      left = disk.fill(PAGE); // one page: less than the session file, enough for the audit lines
    };
    try {
      const run = await disk.run(['token', '--min-ttl', '3600']);
      expect(left).toBe(PAGE);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout.trim()).toBe(fake.issued.at(-3)); // the access token of this refresh
    } finally {
      fake.script.onToken = undefined;
    }
    const renewed = fake.issued.at(-2);
    expect(JSON.parse(readFileSync(disk.inside('sessions', 'default.json.enc'), 'utf8'))).toMatchObject({ generation: 1 });
    disk.unfill();
    // A narrower token is asked for with the stored refresh token (the renewed one is a moment old, so token would reuse it).
    const next = await disk.run(['token', '--scope', 'openid']);
    expect(next.code, next.stderr).toBe(0);
    expect(lastRefreshToken()).toBe(renewed);
  });
});
