import { closeSync, constants, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { hrtime, kill, pid } from 'node:process';
import { MAX_REPLY_BYTES, MAX_REQUEST_BYTES, REPLY_SLOTS, replyLock, replyPipe, requestsPipe, type AgentRequest } from './agent-protocol.js';

// The client side of the agent's pipes (agent-protocol.ts), synchronous from
// end to end: no socket or stream code is loaded, and a client has nothing
// else to do while it waits.

const POLL_MS = 0.05;

/** A slot lock older than this is taken over even if its process seems alive (a reused pid). */
const STALE_LOCK_MS = 30_000;

/** True when an agent holds the requests pipe in `dir` open: a writer's open fails (ENXIO) once it is gone. */
export function agentListens(dir: string): boolean {
  try {
    closeSync(openSync(requestsPipe(dir), constants.O_WRONLY | constants.O_NONBLOCK));
    return true;
  } catch {
    return false;
  }
}

/**
 * Sends one message to the agent whose pipes are in `dir` and returns its
 * reply, or undefined when there is no agent (no folder, or nobody reading
 * the requests pipe), every slot is taken (at once, or after waiting for one
 * with `waitForSlot`), the message is too long, or no reply came within
 * `timeoutMs`. Never throws for any of these.
 */
export function exchangeSync(dir: string, message: AgentRequest, timeoutMs: number, options: { waitForSlot?: boolean } = {}): Record<string, unknown> | undefined {
  const deadline = Date.now() + timeoutMs;
  let slot = claimSlot(dir);
  // The fast path does not wait (it reads the vault itself instead); `devlogin agent` does.
  while (slot === undefined && options.waitForSlot && Date.now() < deadline && agentListens(dir)) {
    sleep(5);
    slot = claimSlot(dir);
  }
  if (slot === undefined) return undefined;
  try {
    return exchangeOnSlot(dir, slot, message, Math.max(deadline - Date.now(), 0));
  } catch {
    return undefined;
  } finally {
    rmSync(replyLock(dir, slot), { force: true });
  }
}

function exchangeOnSlot(dir: string, slot: number, message: AgentRequest, timeoutMs: number): Record<string, unknown> | undefined {
  // Open for reading first: the agent opens it for writing without waiting, and that fails while nobody reads.
  const reply = openSync(replyPipe(dir, slot), constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    // Tells this reply from one the agent wrote for an earlier holder of the slot that gave up. Not a secret.
    const nonce = `${pid}.${hrtime.bigint()}.${Math.random()}`;
    const line = `${JSON.stringify({ ...message, slot, nonce })}\n`;
    if (Buffer.byteLength(line) > MAX_REQUEST_BYTES) return undefined;
    // ENXIO when no agent holds the pipe open: it is gone.
    const requests = openSync(requestsPipe(dir), constants.O_WRONLY | constants.O_NONBLOCK);
    try {
      writeSync(requests, line);
    } finally {
      closeSync(requests);
    }
    return awaitReply(reply, nonce, timeoutMs);
  } finally {
    closeSync(reply);
  }
}

/** Takes the first free slot by creating its lock file exclusively; a lock whose process is gone is taken over. */
function claimSlot(dir: string): number | undefined {
  for (let slot = 0; slot < REPLY_SLOTS; slot += 1) {
    const lock = replyLock(dir, slot);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        const fd = openSync(lock, 'wx', 0o600);
        writeSync(fd, String(pid));
        closeSync(fd);
        return slot;
      } catch (err) {
        // ENOENT: no agent folder, so no agent.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return undefined;
        if (!isStale(lock)) break;
        rmSync(lock, { force: true });
      }
    }
  }
  return undefined;
}

function isStale(lock: string): boolean {
  try {
    if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) return true;
    const owner = Number(readFileSync(lock, 'utf8'));
    // Empty: its owner has just created it and is writing its pid.
    if (!Number.isInteger(owner) || owner <= 0) return false;
    kill(owner, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Reads the reply pipe until the line with our nonce, polling: the pipe is
 * non-blocking (a blocking read would wait for good on an agent that died),
 * and between reads the client sleeps.
 */
function awaitReply(fd: number, nonce: string, timeoutMs: number): Record<string, unknown> | undefined {
  const started = Date.now();
  const deadline = started + timeoutMs;
  const chunk = Buffer.allocUnsafe(64 * 1024);
  let pending = Buffer.alloc(0);
  let received = 0;
  let pause = POLL_MS;
  for (;;) {
    let count = 0;
    try {
      count = readSync(fd, chunk, 0, chunk.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return undefined;
    }
    if (count > 0) {
      received += count;
      if (received > MAX_REPLY_BYTES) return undefined;
      pending = Buffer.concat([pending, chunk.subarray(0, count)]);
      for (let newline = pending.indexOf(0x0a); newline !== -1; newline = pending.indexOf(0x0a)) {
        const reply = parseLine(pending.subarray(0, newline).toString('utf8'));
        pending = pending.subarray(newline + 1);
        if (reply?.nonce === nonce) return reply;
      }
      continue;
    }
    // Nothing yet (EAGAIN), or no writer at the moment (0): the agent has not replied yet.
    const now = Date.now();
    if (now >= deadline) return undefined;
    sleep(pause);
    // A reply usually comes within a millisecond or two: poll every 50 µs
    // (a read costs a few) for the first 5 ms, then back off to 2 ms.
    if (now - started > 5) pause = Math.min(pause * 1.25, 2);
  }
}

/** Blocks this thread for `ms` milliseconds (fractions allowed). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}
