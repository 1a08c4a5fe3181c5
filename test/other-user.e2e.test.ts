/**
 * The attacks that need a second Unix user, with real ones: the tests run as
 * root, so they create two users for the file (useradd) and remove them
 * after (userdel). Mallory plants folders, links and files with her own uid
 * (setpriv); alice is a user whose folder root must not use, and, where she
 * can run this checkout's devlogin, a victim herself.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, NODE, runCli, useTempHomes } from './helpers/cli.js';
import { signIn, startProvider } from './helpers/session.js';

const usable = process.getuid?.() === 0 && ['useradd', 'userdel', 'setpriv'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0);
if (!usable && process.env.DEVLOGIN_REQUIRE_SYSTEM_TESTS === '1') throw new Error('the second-user tests need root, useradd, userdel and setpriv');

interface User {
  name: string;
  uid: number;
  /** Runs a shell script as this user (her uid and gid, no supplementary groups). */
  sh(script: string, env?: NodeJS.ProcessEnv): { status: number | null; stdout: string; stderr: string };
  /** The wrapper that runs a command as this user. */
  wrap: string[];
}

function createUser(prefix: string): User {
  const name = `${prefix}${randomBytes(3).toString('hex')}`;
  const made = spawnSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', '--user-group', name], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`useradd ${name}: ${made.stderr}`);
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
  const wrap = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--'];
  return {
    name,
    uid,
    wrap,
    sh: (script, env = {}) => {
      const run = spawnSync(wrap[0]!, [...wrap.slice(1), 'sh', '-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } });
      return { status: run.status, stdout: run.stdout, stderr: run.stderr };
    },
  };
}

/** A file's bytes, mode and owner, to show it was left as it was. */
const snapshot = (path: string) => {
  const info = lstatSync(path);
  return { mode: info.mode, uid: info.uid, content: info.isFile() ? readFileSync(path).toString('base64') : null };
};

describe.skipIf(!usable)('attacks by a real second user', () => {
  const homes = useTempHomes();
  let provider: LocalProvider;
  let mallory: User;
  let alice: User;
  /** A shared, sticky, world-writable folder, as /tmp is. */
  let shared: string;
  beforeAll(async () => {
    provider = await startProvider();
    mallory = createUser('dlm');
    alice = createUser('dla');
    shared = (await homes()).home;
    spawnSync('chmod', ['1777', shared]);
  });
  afterAll(async () => {
    await provider.close();
    for (const user of [mallory, alice]) if (user) spawnSync('userdel', [user.name]);
  });

  it('mallory plants a world-writable state folder with audit.log linked to root\'s file and a hostile config.json: root\'s login is exit 6, the file untouched, no command run', async () => {
    const h = await homes();
    const target = join(h.home, 'root-only');
    spawnSync('sh', ['-c', `printf 'echo hello\\n' > '${target}' && chmod 600 '${target}'`]);
    const planted = join(shared, 'planted');
    const config = JSON.stringify({ profiles: { default: { issuer: `${provider.issuer}/$(touch ${shared}/pwned)`, clientId: provider.clientId } } });
    const made = mallory.sh(`mkdir -m 777 '${planted}' && ln -s '${target}' '${planted}/audit.log' && printf '%s' '${config}' > '${planted}/config.json'`);
    expect(made.status, made.stderr).toBe(0);
    const before = snapshot(target);
    const run = await runCli(['login', '--no-dpop'], { ...h.env, DEVLOGIN_HOME: planted });
    expect(run.code).toBe(6);
    expect(run.stderr).toBe(`devlogin: Refusing to use ${planted}: it belongs to another user (uid ${mallory.uid}). devlogin keeps sessions only in a folder that is yours and private (chown it to you, chmod 700), or set DEVLOGIN_HOME to one.\n`);
    expect(snapshot(target)).toEqual(before);
    expect(statSync(planted).mode & 0o777).toBe(0o777); // refused, not repaired
    expect(readdirSync(planted).sort()).toEqual(['audit.log', 'config.json']);
    expect(readdirSync(shared)).not.toContain('pwned');
  });

  it('mallory plants DEVLOGIN_HOME as her link to a folder of root\'s: exit 6, the folder neither followed nor chmodded', async () => {
    const h = await homes();
    const target = join(h.home, 'target');
    spawnSync('sh', ['-c', `mkdir -m 755 '${target}'`]);
    const link = join(shared, 'home-link');
    expect(mallory.sh(`ln -s '${target}' '${link}'`).status).toBe(0);
    const run = await runCli(['whoami'], { ...h.env, DEVLOGIN_HOME: link });
    expect(run.code).toBe(6);
    expect(run.stderr).toBe(`devlogin: Refusing to use ${link}: it is a symbolic link. devlogin keeps sessions only in a folder that is yours and private (chown it to you, chmod 700), or set DEVLOGIN_HOME to one.\n`);
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(readdirSync(target)).toEqual([]);
  });

  it('root over alice\'s own private folder: whoami, login and logout are exit 6 and leave every file of hers as it was', async () => {
    const h = await homes();
    const theirs = join(shared, 'alice-state');
    const made = alice.sh(`mkdir -m 700 '${theirs}' && mkdir -m 700 '${theirs}/sessions' && printf '{"profiles":{}}' > '${theirs}/config.json' && printf 'x' > '${theirs}/audit.log' && chmod 600 '${theirs}/config.json' '${theirs}/audit.log'`);
    expect(made.status, made.stderr).toBe(0);
    const files = ['', 'sessions', 'config.json', 'audit.log'].map((name) => join(theirs, name));
    const before = files.map(snapshot);
    for (const args of [['whoami'], ['logout'], ['login', '--issuer', provider.issuer, '--client-id', provider.clientId]]) {
      const run = await runCli(args, { ...h.env, DEVLOGIN_HOME: theirs });
      expect(run.code, args[0]).toBe(6);
      expect(run.stderr, args[0]).toBe(`devlogin: Refusing to use ${theirs}: it belongs to another user (uid ${alice.uid}). devlogin keeps sessions only in a folder that is yours and private (chown it to you, chmod 700), or set DEVLOGIN_HOME to one.\n`);
    }
    expect(files.map(snapshot)).toEqual(before);
    expect(readdirSync(theirs).sort()).toEqual(['audit.log', 'config.json', 'sessions']);
  });

  // Alice runs this checkout's devlogin only where she can read it (a clone under a private folder is out of her reach).
  const aliceCanRun = () => alice.sh(`test -r '${BIN}' && test -x '${NODE}' && '${NODE}' -e 0`).status === 0;

  it('alice as the victim: mallory owns the devlogin folder under alice\'s XDG_STATE_HOME; alice\'s login is exit 6 and writes nothing there', async (context) => {
    if (!aliceCanRun()) return context.skip();
    const h = await homes();
    const state = join(shared, 'xdg-state');
    const config = join(shared, 'xdg-config');
    expect(mallory.sh(`mkdir -m 1777 '${state}' '${config}' && mkdir -m 755 '${state}/devlogin'`).status).toBe(0);
    const env = { ...h.env, HOME: shared, DEVLOGIN_HOME: undefined, XDG_STATE_HOME: state, XDG_CONFIG_HOME: config };
    const run = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], env, alice.wrap);
    expect(run.code).toBe(6);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(`devlogin: Refusing to use ${join(state, 'devlogin')}: it belongs to another user (uid ${mallory.uid}). devlogin keeps sessions only in a folder that is yours and private (chown it to you, chmod 700), or set DEVLOGIN_HOME to one.`);
    expect(readdirSync(join(state, 'devlogin'))).toEqual([]);
  });

  it('alice signs in in her own folder; root cannot read or end her session there, and hers still works', async (context) => {
    if (!aliceCanRun()) return context.skip();
    const h = await homes();
    const theirs = join(shared, 'alice-home');
    expect(alice.sh(`mkdir -m 700 '${theirs}'`).status).toBe(0);
    const env = { ...h.env, HOME: theirs, DEVLOGIN_HOME: theirs };
    const login = await signIn(provider, { ...h, env }, { args: ['--no-dpop'], wrap: alice.wrap });
    expect(login.code, login.stderr).toBe(0);
    const session = join(theirs, 'sessions', 'default.json.enc');
    expect(statSync(session).uid).toBe(alice.uid);
    const before = snapshot(session);
    for (const args of [['token'], ['logout', '--local']]) {
      const run = await runCli(args, env);
      expect(run.code, args[0]).toBe(6);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain(`it belongs to another user (uid ${alice.uid})`);
    }
    expect(snapshot(session)).toEqual(before);
    const hers = await runCli(['whoami', '--json'], env, alice.wrap);
    expect(hers.code, hers.stderr).toBe(0);
    expect(JSON.parse(hers.stdout)).toMatchObject({ signed_in: true, subject: 'alice' });
  });
});
