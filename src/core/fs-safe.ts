import { randomBytes } from 'node:crypto';
import { closeSync, constants, fchmodSync, ftruncateSync, lstatSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { DevloginError, vaultError } from '../errors.js';

// File calls are synchronous: a command has nothing else to do meanwhile,
// each asynchronous call is a round trip through libuv's thread pool, and
// node:fs/promises would be one more module for every whoami and token to load.
//
// Nothing devlogin keeps is trusted unless it is the user's own and nobody
// else can write to it, as ssh treats ~/.ssh: a folder or file of another
// user, one that others may write to, or a symbolic link where a file or
// folder of ours should be is refused (exit 6), never repaired or followed.
// Every check is made on the opened descriptor (O_NOFOLLOW, fstat), so the
// path cannot be swapped between the check and the use.

const { O_RDONLY, O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW, O_DIRECTORY } = constants;

let ownUid: number | undefined;
/** This process's user; -1 where the platform has none (Windows): then ownership is not checked. */
const myUid = (): number => (ownUid ??= userInfo().uid);

/** Who may own a file devlogin reads: its own state (the user), or an administrator's file (the user or root). */
export type Owner = 'self' | 'self-or-root';

function refuse(path: string, why: string): DevloginError {
  return vaultError(`Refusing to use ${path}: ${why}.`, {
    hint: 'devlogin keeps sessions only in a folder that is yours and private (chown it to you, chmod 700), or set DEVLOGIN_HOME to one.',
    code: 'unsafe_path',
  });
}

/** A file system error on a path of ours, as one line (exit 6), instead of a crash. */
export function fileError(path: string, what: string, err: unknown): DevloginError {
  if (err instanceof DevloginError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code === 'ENOSPC' ? 'no space left on the device'
    : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : code === 'EROFS' ? 'the file system is read-only'
        : code === 'ENOTDIR' || code === 'EEXIST' ? 'something that is not a folder is in the way'
          : code === 'ELOOP' ? 'it is a symbolic link'
            : (code ?? 'error');
  return vaultError(`Cannot ${what} ${path}: ${reason}.`, {
    hint: code === 'ENOSPC' ? 'Free some space and try again; nothing was lost.' : 'Check DEVLOGIN_HOME (or the XDG folders) points to a folder of your own.',
    code: code === 'ENOSPC' ? 'no_space' : 'state_folder',
    cause: err,
  });
}

function checkOwnership(path: string, info: Stats, owner: Owner): void {
  const uid = myUid();
  if (uid >= 0 && info.uid !== uid && !(owner === 'self-or-root' && info.uid === 0)) {
    throw refuse(path, `it belongs to another user (uid ${info.uid})`);
  }
  if ((info.mode & 0o022) !== 0) throw refuse(path, `others may write to it (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')})`);
}

/**
 * Creates a folder (and parents, mode 0700) and makes sure it is the user's
 * own, not a symbolic link, and writable by nobody else; one readable by
 * others is made private (0700).
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  let fd: number | undefined;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    fd = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    const info = fstatSync(fd);
    checkOwnership(dir, info, 'self');
    if ((info.mode & 0o077) !== 0) fchmodSync(fd, 0o700);
  } catch (err) {
    throw notUsableDir(dir, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** O_DIRECTORY | O_NOFOLLOW on a link answers ENOTDIR (Linux) or ELOOP: say which it is. */
function notUsableDir(dir: string, err: unknown): DevloginError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ELOOP' || (code === 'ENOTDIR' && isLink(dir))) return refuse(dir, 'it is a symbolic link');
  return fileError(dir, 'use the folder', err);
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Opens a file of ours without following a link, checks on the descriptor
 * that it is a regular file, owned as `owner` says and writable by nobody
 * else, and hands it to `use`; undefined when it does not exist (unless it
 * is being created). Every failure is one line, exit 6.
 */
function withOwnFile<T>(path: string, flags: number, what: string, use: (fd: number, info: Stats) => T, owner: Owner = 'self'): T | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, flags | O_NOFOLLOW, 0o600);
    const info = fstatSync(fd);
    if (!info.isFile()) throw refuse(path, 'it is not a regular file');
    checkOwnership(path, info, owner);
    return use(fd, info);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') throw refuse(path, 'it is a symbolic link');
    throw fileError(path, what, err);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Checks a file of ours without creating or changing it: not a link, the user's own, writable by nobody else. */
export function assertSafeFile(path: string): void {
  withOwnFile(path, O_RDONLY, 'read', () => undefined);
}

/**
 * Checks folders devlogin keeps things in without creating them: each one
 * that exists must be the user's own, not a link, and writable by nobody
 * else. Called before anything is read from them, so a planted folder is
 * refused before a command does any work.
 */
export function assertSafeDirs(...dirs: string[]): void {
  for (const dir of new Set(dirs)) {
    let fd: number | undefined;
    try {
      fd = openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      checkOwnership(dir, fstatSync(fd), 'self');
    } catch (err) {
      if (isNotFound(err)) continue;
      throw notUsableDir(dir, err);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
}

/** Room made in a folder for a write that must not fail for want of space (reserveFile). */
export interface Reserved {
  readonly temp: string;
  /** Deletes the room when no write follows (a write that used it has renamed it already). */
  release(): void;
}

/**
 * Makes room for a write that must not fail for want of space: a refreshed
 * session, whose old refresh token the provider has spent by the time it is
 * written. A temporary file of `size` bytes is written and synced in the
 * folder now, before anything is spent; writeFileAtomic then writes into it
 * in place, and overwriting blocks already allocated needs none (truncating
 * frees). No room is exit 6 (no_space), with nothing spent yet.
 */
export async function reserveFile(path: string, size: number): Promise<Reserved> {
  const dir = dirname(path);
  await ensurePrivateDir(dir);
  const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeAll(fd, Buffer.alloc(size));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    removeFile(temp);
    throw fileError(dir, 'make room for the session in', err);
  }
  return { temp, release: () => removeFile(temp) };
}

/**
 * Writes a file so that a reader sees the old content or the new, never half:
 * a temporary file in the same folder (mode 0600, created exclusively, so no
 * link is followed; or the room `reserved` made), fsync, rename (which
 * replaces a link, never its target), fsync of the folder.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, reserved?: Reserved): Promise<void> {
  const dir = dirname(path);
  await ensurePrivateDir(dir);
  const temp = reserved?.temp ?? join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  try {
    const fd = reserved ? openSync(temp, O_WRONLY | O_NOFOLLOW) : openSync(temp, 'wx', 0o600);
    try {
      writeAll(fd, bytes);
      if (reserved) ftruncateSync(fd, bytes.length);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    removeFile(temp);
    throw fileError(path, 'write', err);
  }
  syncDir(dir);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let written = 0; written < bytes.length;) written += writeSync(fd, bytes, written, bytes.length - written);
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a folder; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Reads a file without following a link, or null when it does not exist. It
 * must be the user's own (or, for an administrator's file, root's) and not
 * writable by others.
 */
export async function readFileOrNull(path: string, owner: Owner = 'self'): Promise<Buffer | null> {
  return withOwnFile(path, O_RDONLY, 'read', (fd) => {
    const chunks: Buffer[] = [];
    for (;;) {
      const chunk = Buffer.allocUnsafe(64 * 1024);
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
    }
    return Buffer.concat(chunks);
  }, owner) ?? null;
}

/** Appends to a file of ours (created 0600), never through a link, never to another user's file. */
export function appendPrivate(path: string, text: string): void {
  withOwnFile(path, O_WRONLY | O_APPEND | O_CREAT, 'write', (fd, info) => {
    if ((info.mode & 0o077) !== 0) fchmodSync(fd, 0o600);
    writeAll(fd, Buffer.from(text, 'utf8'));
  });
}

/**
 * The last `count` non-empty lines of a file of ours, read from its end in
 * chunks: a large file costs what the lines cost, not its size. [] when it
 * does not exist.
 */
export function readTailLines(path: string, count: number): string[] {
  return withOwnFile(path, O_RDONLY, 'read', (fd, info) => {
    const chunks: Buffer[] = [];
    let position = info.size;
    let newlines = 0;
    while (position > 0 && newlines <= count) {
      const size = Math.min(64 * 1024, position);
      position -= size;
      const chunk = Buffer.allocUnsafe(size);
      readSync(fd, chunk, 0, size, position);
      chunks.unshift(chunk);
      for (const byte of chunk) if (byte === 0x0a) newlines += 1;
    }
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    // The first line is cut unless the read reached the start of the file.
    if (position > 0) lines.shift();
    return lines.filter((line) => line.trim() !== '').slice(-count);
  }) ?? [];
}

/**
 * Deletes a file; one that is not there is no error. unlink, not
 * rmSync(force): rmSync loads Node's rimraf and costs about 0.7 ms more, on
 * every whoami and token (the lock's release).
 */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'ENOENT';
}
