/**
 * Runs devlogin in this process, through the same runProgram that main.ts
 * runs, with test Deps: a buffer IO whose TTY flags a test sets, a key store
 * in memory (the keychain backend, without D-Bus), a virtual clock that
 * sleep() advances, a browser and a QR renderer that only record, and the
 * real network seam (requests reach the real provider on loopback).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram } from '../../src/cli/program.js';
import { reportError } from '../../src/cli/report.js';
import { auditSinkFor } from '../../src/core/audit-forward.js';
import { createHttpFetch } from '../../src/core/http.js';
import { resolvePaths } from '../../src/core/paths.js';
import type { Env } from '../../src/core/settings.js';
import type { KeyStore } from '../../src/core/vault/keychain.js';
import { refused } from '../../src/core/vault/kernel.js';
import { createVault } from '../../src/core/vault/vault.js';
import { isAlive, type Deps } from '../../src/deps.js';
import { createBufferIO, type IO } from '../../src/io.js';
import { approveDeviceCode, denyDeviceCode } from '../../demo/approve.js';
import type { LocalProvider } from '../../demo/provider.js';

/** A keychain in memory: what the OS credential store would hold, by account (the session file's path). */
export interface MemoryKeyStore extends KeyStore {
  items: Map<string, string>;
  /** Make every call fail, as a locked or absent keychain does. */
  broken: Error | undefined;
}

export function createMemoryKeyStore(): MemoryKeyStore {
  const items = new Map<string, string>();
  const store: MemoryKeyStore = {
    items,
    broken: undefined,
    async probe() {
      if (store.broken) throw store.broken;
    },
    async getSecret(account) {
      if (store.broken) throw store.broken;
      return items.get(account) ?? null;
    },
    async setSecret(account, value) {
      if (store.broken) throw store.broken;
      items.set(account, value);
    },
    async deleteSecret(account) {
      if (store.broken) throw store.broken;
      return items.delete(account);
    },
  };
  return store;
}

/** The key store account of a profile's session: its session file's path (vault.ts accountOf). */
export const keyAccount = (h: Pick<Harness, 'home'>, profile = 'default'): string => join(h.home, 'sessions', `${profile}.json.enc`);

/** The data key in a key store item (`KEY.GENERATION`, backend.ts). */
export const itemKey = (item: string | undefined): Buffer | undefined => (item === undefined ? undefined : Buffer.from(item.split('.')[0]!, 'base64'));

export interface VirtualClock {
  now(): number;
  advance(ms: number): void;
}

export function createVirtualClock(start = Date.now()): VirtualClock {
  let now = start;
  return { now: () => now, advance: (ms) => void (now += ms) };
}

export type TtyFlags = Partial<Pick<IO, 'stdoutIsTTY' | 'stderrIsTTY' | 'stdinIsTTY' | 'color' | 'ci' | 'ssh' | 'verbose'>>;

export interface RunOptions {
  /** Variables added to (or, as undefined, removed from) the home's environment for this run. */
  env?: Env;
  tty?: TtyFlags;
  /** Called at each sleep, after the clock moved: a test approves a sign-in here. */
  onSleep?: (ms: number, run: RunState) => Promise<void> | void;
  /** Standard input (api -d @-). */
  stdin?: string;
  /** Replaces the fetch the run goes through (the process's proxy-aware one by default). */
  fetch?: typeof fetch;
  /** Aborted like Ctrl-C. */
  signal?: AbortSignal;
  processes?: Deps['processes'];
  /** How long the audit forwarder waits for a collector. */
  auditTimeoutMs?: number;
  /**
   * What the person types at the terminal, one answer per passphrase prompt,
   * in order. Without it there is no terminal: prompts answer null.
   */
  answers?: string[];
}

export interface RunState {
  stdout(): string;
  stderr(): string;
  /** The JSON lines on stdout so far. */
  events(): Record<string, unknown>[];
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** URLs the run asked the browser to open. */
  opened: string[];
  /** Texts the run drew as QR codes. */
  qr: string[];
  sleeps: number[];
  /** The questions the run asked on the terminal. */
  prompts: string[];
}

export interface Harness {
  home: string;
  env: Record<string, string | undefined>;
  keyStore: MemoryKeyStore;
  /**
   * The Linux kernel keyring, in memory. It refuses every call by default,
   * as the kernel does for a process without a session keyring of its own
   * (these tests' own case); a test clears `broken` to have one.
   */
  kernelStore: MemoryKeyStore;
  clock: VirtualClock;
  run(argv: string[], options?: RunOptions): Promise<RunResult>;
}

/** What the kernel backend reports where the kernel refuses it (src/core/vault/kernel.ts). */
export const KERNEL_REFUSED = refused('write', new Error("Couldn't access platform storage: AccessDenied"));

const homes: string[] = [];

/** Removes the homes made so far: test/helpers/setup.ts runs it after each test file. */
export async function removeHarnessHomes(): Promise<void> {
  await Promise.all(homes.splice(0).map((home) => rm(home, { recursive: true, force: true })));
}

/**
 * A temporary DEVLOGIN_HOME with its own memory keychain and clock. The
 * default vault is the keychain (in memory); pass DEVLOGIN_VAULT=passphrase
 * in `env` for the passphrase vault.
 */
export async function createHarness(env: Env = {}): Promise<Harness> {
  const home = await mkdtemp(join(tmpdir(), 'devlogin-unit-'));
  homes.push(home);
  const harness: Harness = {
    home,
    env: { HOME: home, DEVLOGIN_HOME: home, ...env },
    keyStore: createMemoryKeyStore(),
    kernelStore: Object.assign(createMemoryKeyStore(), { broken: KERNEL_REFUSED }),
    clock: createVirtualClock(),
    run: (argv, options = {}) => runIn(harness, argv, options),
  };
  return harness;
}

async function runIn(harness: Harness, argv: string[], options: RunOptions): Promise<RunResult> {
  const env: Env = Object.fromEntries(Object.entries({ ...harness.env, ...options.env }).filter(([, value]) => value !== undefined));
  const io = createBufferIO(options.tty);
  const opened: string[] = [];
  const qr: string[] = [];
  const sleeps: number[] = [];
  const prompts: string[] = [];
  const answers = options.answers ? [...options.answers] : undefined;
  const promptSecret = async (question: string): Promise<string | null> => {
    prompts.push(question);
    if (!answers) return null;
    const answer = answers.shift();
    if (answer === undefined) throw new Error(`no scripted answer left for the prompt ${JSON.stringify(question)}`);
    return answer;
  };
  const signal = options.signal ?? new AbortController().signal;
  const paths = resolvePaths(env, harness.home);
  const state: RunState = {
    stdout: io.out,
    stderr: io.err,
    events: () => io.out().split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as Record<string, unknown>),
  };
  let auditSink: Deps['auditSink'];
  try {
    auditSink = auditSinkFor(env, { hostname: 'devlogin-test', pid: process.pid, warn: io.verbose ? (line) => io.stderr.write(`[devlogin] ${line}\n`) : undefined, timeoutMs: options.auditTimeoutMs });
  } catch (err) {
    // As main.ts does when the process's Deps cannot be built.
    return { code: reportError(io, err), stdout: io.out(), stderr: io.err(), opened, qr, sleeps, prompts };
  }
  const deps: Deps = {
    io,
    env,
    paths,
    clock: harness.clock,
    sleep: async (ms, abort) => {
      if (abort?.aborted) throw abort.reason;
      sleeps.push(ms);
      harness.clock.advance(ms);
      await options.onSleep?.(ms, state);
      if (abort?.aborted) throw abort.reason;
    },
    fetch: createHttpFetch({ signal, env, ...(options.fetch ? { fetch: options.fetch } : {}), log: io.verbose ? (line) => io.stderr.write(`[devlogin] ${line}\n`) : undefined }),
    vault: createVault({ paths, env, keyStore: harness.keyStore, kernelStore: harness.kernelStore, promptSecret }),
    processes: options.processes ?? { pid: process.pid, isAlive },
    httpTimeoutSeconds: 5,
    auditSink,
    warn: (message) => io.stderr.write(`warning: ${message}\n`),
    signal,
    openBrowser: async (url) => void opened.push(url),
    renderQr: async (text) => {
      qr.push(text);
      return `[QR ${text}]`;
    },
    promptSecret,
    readStdin: async () => Buffer.from(options.stdin ?? '', 'utf8'),
    trapSignals: () => undefined,
  };
  const code = await runProgram(argv, deps);
  return { code, stdout: io.out(), stderr: io.err(), opened, qr, sleeps, prompts };
}


export interface SignInOptions {
  /** Extra login flags. */
  args?: string[];
  decision?: 'approve' | 'deny' | 'none';
  user?: string;
  env?: Env;
  tty?: TtyFlags;
  /** Called at each sleep after the decision was made (e.g. to abort). */
  onSleep?: RunOptions['onSleep'];
  answers?: string[];
}

/**
 * `devlogin login --json` in-process against the real provider, approving
 * (or denying) the code as `user` at the first poll, through the provider's
 * own pages.
 */
export async function signIn(harness: Harness, provider: LocalProvider, options: SignInOptions = {}): Promise<RunResult> {
  let decided = false;
  const decision = options.decision ?? 'approve';
  return harness.run(['login', '--json', '--issuer', provider.issuer, '--client-id', provider.clientId, ...(options.args ?? [])], {
    env: options.env,
    tty: options.tty,
    ...(options.answers ? { answers: options.answers } : {}),
    onSleep: async (ms, run) => {
      if (!decided) {
        decided = true;
        const verification = run.events().find((event) => event.event === 'verification');
        if (!verification) throw new Error(`no verification event before the first poll; stderr:\n${run.stderr()}`);
        const userCode = String(verification.user_code);
        if (decision === 'approve') await approveDeviceCode({ issuer: provider.issuer, userCode, login: options.user ?? 'alice' });
        if (decision === 'deny') await denyDeviceCode({ issuer: provider.issuer, userCode });
      }
      await options.onSleep?.(ms, run);
    },
  });
}

/**
 * Signs in, in this process, into the vault of a home (its DEVLOGIN_VAULT)
 * that child processes then use (end-to-end tests whose subject is not login itself):
 * no real wait for the provider's poll interval.
 */
export async function signInHome(home: { home: string; env: Record<string, string | undefined> }, provider: LocalProvider, options: SignInOptions = {}): Promise<RunResult> {
  const harness = await createHarness({
    DEVLOGIN_HOME: home.home,
    DEVLOGIN_VAULT: home.env.DEVLOGIN_VAULT,
    DEVLOGIN_VAULT_KEY: home.env.DEVLOGIN_VAULT_KEY,
    DEVLOGIN_VAULT_PASSPHRASE: home.env.DEVLOGIN_VAULT_PASSPHRASE,
    DEVLOGIN_KEYCHAIN_SERVICE: home.env.DEVLOGIN_KEYCHAIN_SERVICE,
  });
  return signIn(harness, provider, options);
}
