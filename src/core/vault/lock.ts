import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { vaultError } from '../../errors.js';
import { assertSafeDirs, ensurePrivateDir, fileError, removeFile } from '../fs-safe.js';
import { locksDir, type Paths } from '../paths.js';

/** This process and the others, as the lock needs them: injected through Deps (core never reads them itself). */
export interface ProcessTable {
  pid: number;
  /** True when a process with this pid exists (ours or another user's). */
  isAlive(pid: number): boolean;
}

export interface LockDeps {
  processes: ProcessTable;
  /** Epoch milliseconds. */
  clock: { now(): number };
  sleep(ms: number): Promise<void>;
}

export interface LockOptions {
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** A lock older than this (ms) is taken over even if its process seems alive. */
  staleMs?: number;
}

/**
 * Runs `fn` holding the profile's lock file, so that reads and refreshes of
 * one profile are serialized across processes (DESIGN.md, "The vault").
 * The lock is a file created with O_EXCL holding the owner's pid; a lock
 * whose process is gone, or that is older than `staleMs`, is taken over.
 */
export async function withProfileLock<T>(paths: Paths, profile: string, deps: LockDeps, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const { timeoutMs = 30_000, staleMs = 120_000 } = options;
  const dir = locksDir(paths);
  assertSafeDirs(paths.configDir, paths.stateDir);
  await ensurePrivateDir(paths.stateDir);
  await ensurePrivateDir(dir);
  const path = join(dir, `${profile}.lock`);
  const started = deps.clock.now();
  let wait = 10;
  for (;;) {
    const acquired = tryAcquire(path, deps.processes.pid);
    if (acquired) break;
    if (await isStale(path, staleMs, deps)) {
      removeFile(path);
      continue;
    }
    if (deps.clock.now() - started > timeoutMs) {
      throw vaultError(`Another devlogin process holds the lock for profile "${profile}".`, {
        hint: `If no other devlogin is running, delete ${path}.`,
        code: 'lock_timeout',
      });
    }
    await deps.sleep(wait + Math.floor(Math.random() * wait));
    wait = Math.min(wait * 2, 200);
  }
  try {
    return await fn();
  } finally {
    removeFile(path);
  }
}

/** Synchronous, like the release: on every whoami and token, and over in microseconds. */
function tryAcquire(path: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fileError(path, 'take the lock', err);
  }
  try {
    writeSync(fd, `${pid}\n`);
  } catch (err) {
    // A full disk can take the file and refuse its pid: an empty lock would make the next command wait for nobody.
    closeSync(fd);
    removeFile(path);
    throw fileError(path, 'take the lock', err);
  }
  closeSync(fd);
  return true;
}

async function isStale(path: string, staleMs: number, deps: LockDeps): Promise<boolean> {
  try {
    const content = readFileSync(path, 'utf8');
    const info = statSync(path);
    const age = deps.clock.now() - info.mtimeMs;
    if (age > staleMs) return true;
    const owner = Number(content.trim());
    // A lock being written this very moment has no pid yet: give it a second.
    if (!Number.isInteger(owner) || owner <= 0) return age > 1000;
    return !deps.processes.isAlive(owner);
  } catch {
    return false; // vanished between attempts: just try again
  }
}
