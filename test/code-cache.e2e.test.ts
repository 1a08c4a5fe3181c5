/**
 * bin/devlogin's V8 code cache of the bundle, with the built CLI: where it is
 * kept, that V8 takes it (a refused one would be written again), and that it
 * is only ever read where it is trusted as the state folder is. V8 checks a
 * cache against the length of the source only, so the tests forge one for a
 * same-length script that prints "pwned" instead of running devlogin: the
 * state folder's owner runs it (so the forgery works), nobody else does.
 * .ci/run runs this file again on Node 22, 24 and 26 (DEVLOGIN_TEST_NODE).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN, NODE, runCli, useTempHomes, type TestHome } from './helpers/cli.js';

const BUNDLE = fileURLToPath(new URL('../dist/devlogin.cjs', import.meta.url));
const makeHome = useTempHomes();
const NODE_ID = spawnSync(NODE, ['-p', 'process.version + " " + process.arch'], { encoding: 'utf8' }).stdout.trim();
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
/** The cache of one command ('-' for none, as --version). */
const cacheName = (command: string) => `bundle-${NODE_ID.replace(' ', '-')}-${sha256(readFileSync(BUNDLE)).slice(0, 16)}.${command}.v8`;
const CACHE_NAME = cacheName('-');

const cacheFile = (h: TestHome, command = '-') => join(h.home, 'cache', cacheName(command));
/** The file's identity and content: a rewrite (temporary file, rename) changes the inode. */
const fileState = (path: string) => ({ ino: lstatSync(path).ino, content: readFileSync(path).toString('base64') });

/** The cache's header lines and its V8 data. */
function readCache(path: string): { lines: string[]; data: Buffer } {
  const file = readFileSync(path);
  let offset = 0;
  const lines: string[] = [];
  for (let line = 0; line < 5; line++) {
    const end = file.indexOf(10, offset);
    lines.push(file.subarray(offset, end).toString('latin1'));
    offset = end + 1;
  }
  return { lines, data: file.subarray(offset) };
}

/**
 * Writes, with the Node under test, a cache that bin/devlogin's checks
 * accept for the real bundle, made from a script of the same length that
 * prints "pwned". Its function is run once so that its code is in the cache.
 */
function forgeCache(path: string): void {
  const forge = `
    const fs = require('node:fs'), { Script } = require('node:vm'), { createHash } = require('node:crypto');
    const [bundle, out] = process.argv.slice(1);
    const bytes = fs.readFileSync(bundle);
    const evil = 'process.stdout.write("pwned\\\\n");';
    const script = new Script('(function (exports, require, module, __filename, __dirname, __devloginImport) {' + evil + ' '.repeat(bytes.length - evil.length) + '\\n})', { filename: bundle });
    script.runInThisContext()();
    const data = script.createCachedData();
    const sha = (d) => createHash('sha256').update(d).digest('hex');
    fs.writeFileSync(out, Buffer.concat([Buffer.from('devlogin-v8-cache/2\\n' + sha(bytes) + '\\n' + process.version + ' ' + process.arch + '\\n-\\n' + sha(data) + '\\n', 'latin1'), data]), { mode: 0o600 });`;
  const made = spawnSync(NODE, ['-e', forge, BUNDLE, path], { encoding: 'utf8' });
  expect(made.status, made.stderr).toBe(0);
}

describe('the code cache of the bundle', () => {
  it('is kept in the state folder, private, one for each bundle, Node and command, written after a success only; V8 takes it', async () => {
    const h = await makeHome();
    const cache = join(h.home, 'cache');
    const version = await runCli(['--version'], h.env);
    expect(version.code).toBe(0);
    expect(readdirSync(cache)).toEqual([CACHE_NAME]);
    expect(lstatSync(cache).mode & 0o777).toBe(0o700);
    expect(lstatSync(cacheFile(h)).mode & 0o777).toBe(0o600);
    const { lines, data } = readCache(cacheFile(h));
    expect(lines).toEqual(['devlogin-v8-cache/2', sha256(readFileSync(BUNDLE)), NODE_ID, '-', sha256(data)]);

    // A failed run takes other paths than a success (not signed in), or is no command at all (a typo): none is written.
    expect((await runCli(['whoami'], h.env)).code).toBe(3);
    expect((await runCli(['whoam'], h.env)).code).toBe(2);
    expect(readdirSync(cache)).toEqual([CACHE_NAME]);

    const first = await runCli(['completion', 'bash'], h.env);
    expect(first.code).toBe(0);
    expect(readdirSync(cache).sort()).toEqual([CACHE_NAME, cacheName('completion')].sort());
    expect(readCache(cacheFile(h, 'completion')).lines[3]).toBe('completion');
    const written = [fileState(cacheFile(h)), fileState(cacheFile(h, 'completion'))];
    // Had V8 refused a cache, the run would have written it again.
    for (const args of [['--version'], ['completion', 'bash']]) await runCli(args, h.env);
    const again = await runCli(['completion', 'bash'], h.env);
    expect(again).toEqual(first);
    expect([fileState(cacheFile(h)), fileState(cacheFile(h, 'completion'))]).toEqual(written);
  });

  it('leaves the caches of other builds and Nodes alone, and deletes those not written for 30 days when it writes its own', async () => {
    const h = await makeHome();
    mkdirSync(join(h.home, 'cache'), { mode: 0o700 });
    const old = join(h.home, 'cache', 'bundle-v20.0.0-x64-0123456789abcdef.whoami.v8');
    const recent = join(h.home, 'cache', 'bundle-v22.0.0-x64-0123456789abcdef.whoami.v8');
    const notOurs = join(h.home, 'cache', 'notes.txt');
    for (const path of [old, recent, notOurs]) writeFileSync(path, 'x', { mode: 0o600 });
    const days = (n: number) => new Date(Date.now() - n * 24 * 3600 * 1000);
    utimesSync(old, days(31), days(31));
    utimesSync(recent, days(29), days(29));
    utimesSync(notOurs, days(90), days(90));
    expect((await runCli(['--version'], h.env)).code).toBe(0);
    expect(readdirSync(join(h.home, 'cache')).sort()).toEqual([CACHE_NAME, 'bundle-v22.0.0-x64-0123456789abcdef.whoami.v8', 'notes.txt'].sort());
  });

  it('one that is damaged, or made for another build of the bundle or another command, is not used and is written again', async () => {
    const h = await makeHome();
    const clean = await runCli(['completion', 'bash'], h.env);
    expect(clean.code).toBe(0);
    const file = readFileSync(cacheFile(h, 'completion'));
    const damaged = Buffer.from(file);
    damaged[damaged.length - 100] ^= 0xff;
    const otherBuild = Buffer.from(file.toString('latin1').replace(/^(devlogin-v8-cache\/2\n)[0-9a-f]{64}/, `$1${'0'.repeat(64)}`), 'latin1');
    const otherCommand = Buffer.from(file.toString('latin1').replace(/^((?:[^\n]*\n){3})completion\n/, '$1whoami\n'), 'latin1');
    for (const planted of [damaged, otherBuild, otherCommand]) {
      expect(planted.equals(file)).toBe(false);
      writeFileSync(cacheFile(h, 'completion'), planted, { mode: 0o600 });
      expect(await runCli(['completion', 'bash'], h.env)).toEqual(clean);
      const { lines, data } = readCache(cacheFile(h, 'completion'));
      expect(lines[1]).toBe(sha256(readFileSync(BUNDLE)));
      expect(lines[3]).toBe('completion');
      expect(lines[4]).toBe(sha256(data));
    }
  });

  it('is run only where it is trusted: a forged cache runs for the folder\'s owner, and not when the file is writable by others, a link, or in a linked folder', async () => {
    const h = await makeHome();
    mkdirSync(join(h.home, 'cache'), { mode: 0o700 });
    forgeCache(cacheFile(h));
    // The forgery works: the state folder's owner's cache is trusted.
    expect((await runCli(['--version'], h.env)).stdout).toBe('pwned\n');

    const version = (await runCli(['--version'], { ...h.env, NODE_DISABLE_COMPILE_CACHE: '1' })).stdout;
    expect(version).toMatch(/^\d+\.\d+\.\d+\n$/);
    // Writable by others: not read, and replaced with a private one of the real bundle.
    chmodSync(cacheFile(h), 0o666);
    expect((await runCli(['--version'], h.env)).stdout).toBe(version);
    expect(lstatSync(cacheFile(h)).mode & 0o777).toBe(0o600);
    expect(readCache(cacheFile(h)).lines[1]).toBe(sha256(readFileSync(BUNDLE)));

    // A link to a forged cache: not followed; the link is replaced, its target left as it was.
    const elsewhere = (await makeHome()).home;
    forgeCache(join(elsewhere, 'forged.v8'));
    const target = fileState(join(elsewhere, 'forged.v8'));
    rmSync(cacheFile(h));
    symlinkSync(join(elsewhere, 'forged.v8'), cacheFile(h));
    expect((await runCli(['--version'], h.env)).stdout).toBe(version);
    expect(lstatSync(cacheFile(h)).isFile()).toBe(true);
    expect(fileState(join(elsewhere, 'forged.v8'))).toEqual(target);

    // The cache folder a link to a folder holding a forged cache: not used, nothing written there.
    rmSync(join(h.home, 'cache'), { recursive: true });
    mkdirSync(join(elsewhere, 'cache'), { mode: 0o700 });
    forgeCache(join(elsewhere, 'cache', CACHE_NAME));
    const planted = fileState(join(elsewhere, 'cache', CACHE_NAME));
    symlinkSync(join(elsewhere, 'cache'), join(h.home, 'cache'));
    expect((await runCli(['--version'], h.env)).stdout).toBe(version);
    expect(readdirSync(join(elsewhere, 'cache'))).toEqual([CACHE_NAME]);
    expect(fileState(join(elsewhere, 'cache', CACHE_NAME))).toEqual(planted);
  });

  it('is not run where another hand could have put it: a relative or linked path, a clone\'s modes, a folder above of another user; a FIFO or a bad path costs only the cache', async () => {
    const h = await makeHome();
    const plant = (state: string, folderMode = 0o700, fileMode = 0o600) => {
      mkdirSync(join(state, 'cache'), { recursive: true, mode: folderMode });
      chmodSync(state, folderMode);
      chmodSync(join(state, 'cache'), folderMode);
      forgeCache(join(state, 'cache', CACHE_NAME));
      chmodSync(join(state, 'cache', CACHE_NAME), fileMode);
    };
    const version = (env: NodeJS.ProcessEnv, cwd?: string) => spawnSync(NODE, [BIN, '--version'], { env: { ...h.env, ...env }, cwd, encoding: 'utf8', timeout: 10_000 });
    // The control: planted by the owner, private, absolute: it runs.
    plant(join(h.home, 'own'));
    expect(version({ DEVLOGIN_HOME: join(h.home, 'own') }).stdout).toBe('pwned\n');
    // A cloned repository's folder, named relatively (DEVLOGIN_HOME=.devlogin in it).
    plant(join(h.home, 'repo', '.devlogin'));
    expect(version({ DEVLOGIN_HOME: '.devlogin' }, join(h.home, 'repo')).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    // What a clone or an unpacked archive gives: the user's own, 0755 and 0644.
    plant(join(h.home, 'unpacked'), 0o755, 0o644);
    expect(version({ DEVLOGIN_HOME: join(h.home, 'unpacked') }).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    // A link on the way to the state folder.
    plant(join(h.home, 'real', 'state'));
    symlinkSync(join(h.home, 'real'), join(h.home, 'linked'));
    expect(version({ DEVLOGIN_HOME: join(h.home, 'linked', 'state') }).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    if (process.getuid?.() === 0) {
      // Root with a user's HOME (sudo keeps it): a folder above belongs to her, so what is below is hers to choose.
      plant(join(h.home, 'her-home', 'state'));
      chownSync(join(h.home, 'her-home'), 65534, 65534);
      expect(version({ DEVLOGIN_HOME: join(h.home, 'her-home', 'state') }).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    }
    // A FIFO where the cache would be: no hang.
    const fifo = join(h.home, 'fifo');
    mkdirSync(join(fifo, 'cache'), { recursive: true, mode: 0o700 });
    chmodSync(fifo, 0o700);
    expect(spawnSync('mkfifo', ['-m', '600', join(fifo, 'cache', CACHE_NAME)]).status).toBe(0);
    const waited = version({ DEVLOGIN_HOME: fifo });
    expect(waited.status).toBe(0);
    expect(waited.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    // A state folder path through a file: devlogin's own one line, as without the cache.
    const bad = await runCli(['whoami'], { ...h.env, DEVLOGIN_HOME: join(h.home, 'own', 'cache', CACHE_NAME, 'x') });
    expect(bad.code).toBe(6);
    expect(bad.stderr.split('\n')).toHaveLength(2);
    expect(bad.stderr).toMatch(/^devlogin: /);
  });

  it('is not kept where there is no state folder yet, where the state folder is not the user\'s own or is writable by others, or with NODE_DISABLE_COMPILE_CACHE', async () => {
    const h = await makeHome();
    const missing = join(h.home, 'not-yet');
    expect((await runCli(['--version'], { ...h.env, DEVLOGIN_HOME: missing })).code).toBe(0);
    expect(existsSync(missing)).toBe(false);

    const off = await runCli(['--version'], { ...h.env, NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(off.code).toBe(0);
    expect(existsSync(join(h.home, 'cache'))).toBe(false);

    const open = join(h.home, 'open');
    mkdirSync(open, { mode: 0o700 });
    chmodSync(open, 0o777);
    await runCli(['--version'], { ...h.env, DEVLOGIN_HOME: open });
    expect(readdirSync(open)).toEqual([]);

    if (process.getuid?.() === 0) {
      // Root with another user's folder: the cache there is hers, and root never runs it.
      const hers = join(h.home, 'hers');
      mkdirSync(join(hers, 'cache'), { recursive: true, mode: 0o700 });
      forgeCache(join(hers, 'cache', CACHE_NAME));
      const forged = fileState(join(hers, 'cache', CACHE_NAME));
      for (const path of [hers, join(hers, 'cache'), join(hers, 'cache', CACHE_NAME)]) chownSync(path, 65534, 65534);
      const run = await runCli(['--version'], { ...h.env, DEVLOGIN_HOME: hers });
      expect(run.stdout).not.toContain('pwned');
      expect(fileState(join(hers, 'cache', CACHE_NAME))).toEqual(forged);
    }
  });
});
