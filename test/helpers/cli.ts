/**
 * Runs the built CLI (bin/devlogin) as a real child process, with a private
 * DEVLOGIN_HOME and keychain service so no user's entries are ever touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

export const BIN = fileURLToPath(new URL('../../bin/devlogin', import.meta.url));
/**
 * The Node that runs the CLI: this one, or DEVLOGIN_TEST_NODE (.ci/run runs
 * the end-to-end tests again on Node 22, 24 and 26 that way).
 */
export const NODE = process.env.DEVLOGIN_TEST_NODE || process.execPath;

export interface TestHome {
  home: string;
  env: NodeJS.ProcessEnv;
  cleanup(): Promise<void>;
}

/**
 * A temporary DEVLOGIN_HOME and an environment for the CLI: the key vault
 * by default, no colour, no CI browser, and no D-Bus session unless a test
 * passes the private one in.
 */
export async function makeHome(extra: NodeJS.ProcessEnv = {}): Promise<TestHome> {
  const home = await mkdtemp(join(tmpdir(), 'devlogin-test-'));
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    CI: 'true',
    DEVLOGIN_HOME: home,
    DEVLOGIN_KEYCHAIN_SERVICE: `devlogin-test-${randomBytes(4).toString('hex')}`,
    // The key vault: no scrypt per command, so the subprocess tests stay quick.
    // The passphrase stays set too, so that tests see no child ever gets it.
    DEVLOGIN_VAULT: 'key',
    DEVLOGIN_VAULT_KEY: randomBytes(32).toString('base64url'),
    DEVLOGIN_VAULT_PASSPHRASE: 'correct horse battery staple',
    ...extra,
  };
  return { home, env, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** Temporary homes for one test file, all removed after it. */
export function useTempHomes(defaults: NodeJS.ProcessEnv = {}): (extra?: NodeJS.ProcessEnv) => Promise<TestHome> {
  const homes: TestHome[] = [];
  afterAll(async () => {
    await Promise.all(homes.map((h) => h.cleanup()));
  });
  return async (extra = {}) => {
    const h = await makeHome({ ...defaults, ...extra });
    homes.push(h);
    return h;
  };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunningCli {
  child: ChildProcess;
  /** Resolves with the first stdout JSON line whose event matches. */
  waitForEvent(event: string): Promise<Record<string, unknown>>;
  done: Promise<CliResult>;
}

/** `wrap` runs the CLI under another command, e.g. ['keyctl', 'session', '-'] for a fresh session keyring. */
export function startCli(args: string[], env: NodeJS.ProcessEnv, wrap: string[] = []): RunningCli {
  const [command, ...rest] = [...wrap, NODE, BIN, ...args];
  const child = spawn(command!, rest, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { event: string; resolve: (value: Record<string, unknown>) => void }[] = [];
  const seen: Record<string, unknown>[] = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const before = stdout;
    stdout += chunk;
    const lines = stdout.split('\n');
    const complete = before.split('\n').length - 1;
    for (const line of lines.slice(complete, -1)) {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        seen.push(parsed);
        for (const waiter of waiters.filter((w) => w.event === parsed.event)) waiter.resolve(parsed);
      } catch {
        // not JSON: the test asserts on stdout itself
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return {
    child,
    done,
    waitForEvent(event) {
      const already = seen.find((value) => value.event === event);
      if (already) return Promise.resolve(already);
      return new Promise((resolve, reject) => {
        waiters.push({ event, resolve });
        void done.then((result) => reject(new Error(`devlogin exited ${result.code} before "${event}"; stderr:\n${result.stderr}`)));
      });
    },
  };
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, wrap: string[] = []): Promise<CliResult> {
  return startCli(args, env, wrap).done;
}

/** Every file under a folder, with its content. */
export async function readTree(dir: string): Promise<{ path: string; content: Buffer; mode: number }[]> {
  const files: { path: string; content: Buffer; mode: number }[] = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    const info = await stat(path);
    if (info.isFile()) files.push({ path, content: await readFile(path), mode: info.mode & 0o777 });
  }
  return files;
}

/** The places a secret could leak to, searched for the secret and its base64 forms. */
export async function findLeaks(secrets: string[], places: { home: string; texts: string[] }): Promise<string[]> {
  const files = await readTree(places.home);
  const haystacks = [
    ...files.map((file) => ({ where: file.path, text: file.content.toString('latin1') })),
    ...places.texts.map((text, index) => ({ where: `output #${index}`, text })),
  ];
  const leaks: string[] = [];
  for (const secret of secrets.filter((value) => value.length >= 8)) {
    const forms = [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('base64url')];
    for (const { where, text } of haystacks) {
      if (forms.some((form) => text.includes(form))) leaks.push(`${where} holds a token`);
    }
  }
  return leaks;
}

/** The keychain vault on a Secret Service at `busAddress`, instead of makeHome's passphrase vault. */
export const keychainEnv = (busAddress: string): NodeJS.ProcessEnv => ({ DEVLOGIN_VAULT: undefined, DEVLOGIN_VAULT_KEY: undefined, DEVLOGIN_VAULT_PASSPHRASE: undefined, DBUS_SESSION_BUS_ADDRESS: busAddress });

/** The audit log of a home, one object per event. */
export async function readAuditEvents(h: Pick<TestHome, 'home'>): Promise<Record<string, unknown>[]> {
  return (await readFile(join(h.home, 'audit.log'), 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** An audit event without its time: two runs' events compare equal. */
export const withoutTime = (event: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(event).filter(([key]) => key !== 'time'));

/** whoami says "(in 59m)": the minute may turn between two runs. */
export const maskRelativeTimes = (text: string): string => text.replace(/\(in [^)]*\)/g, '(in …)');

export interface ProbedRun {
  status: number | null;
  stdout: string;
  stderr: string;
  /** Files loaded through require (CommonJS). */
  files: string[];
  /** Node's own modules loaded, e.g. "net", "internal/modules/esm/loader". */
  builtins: string[];
}

/**
 * Runs bin/devlogin (or another CommonJS program) with a --require probe that
 * records, at exit, what the process loaded; `stdio: 'ignore'` gives it
 * /dev/null for stdin, stdout and stderr (stdout and stderr are then empty).
 */
export async function runProbed(h: TestHome, args: string[], env: NodeJS.ProcessEnv = h.env, program = BIN, wrap: string[] = [], stdio: 'pipe' | 'ignore' = 'pipe'): Promise<ProbedRun> {
  const script = join(h.home, 'probe.cjs');
  const report = join(h.home, 'probe.json');
  await writeFile(script, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify({
    files: Object.keys(require.cache),
    builtins: process.moduleLoadList.filter((name) => name.startsWith('NativeModule ')).map((name) => name.slice(13)),
  })));\n`);
  const [command, ...rest] = [...wrap, NODE, '--require', script, program, ...args];
  const result = spawnSync(command!, rest, { env, encoding: 'utf8', stdio });
  const loaded = JSON.parse(await readFile(report, 'utf8')) as { files: string[]; builtins: string[] };
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '', ...loaded };
}
