/**
 * Runs a command on a pseudo-terminal (python3's pty module), so that the
 * real passphrase prompt (src/io.ts, promptSecretOnTty) has a /dev/tty to
 * open: the test reads what the terminal shows and types into it.
 */
import { spawn } from 'node:child_process';

export interface PtyRun {
  /** Resolves when the terminal has shown `text` (after `after`, the length of the transcript already read). */
  waitFor(text: string | RegExp): Promise<string>;
  /** Types on the terminal's keyboard. */
  type(keys: string): void;
  /** Everything the terminal showed so far. */
  transcript(): string;
  done: Promise<{ code: number | null; transcript: string }>;
}

// pty.spawn makes the child's stdin, stdout and stderr the terminal, and its
// controlling terminal; it copies our stdin (a pipe) to it, and it to our stdout.
const BRIDGE = 'import pty, sys; sys.exit(pty.spawn(sys.argv[1:]) >> 8)';

export function startInPty(command: string[], env: NodeJS.ProcessEnv): PtyRun {
  // A size, as a real terminal has (a new pseudo-terminal reports 0 columns, which the spinner cannot draw on).
  const sized = ['sh', '-c', 'stty cols 100 rows 40; exec "$@"', 'sh', ...command];
  const child = spawn('python3', ['-c', BRIDGE, ...sized], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  let shown = '';
  const waiters: { test: (text: string) => boolean; resolve: (text: string) => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    shown += chunk;
    for (const waiter of waiters.splice(0)) {
      if (waiter.test(shown)) waiter.resolve(shown);
      else waiters.push(waiter);
    }
  });
  const done = new Promise<{ code: number | null; transcript: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, transcript: shown }));
  });
  return {
    waitFor(text) {
      const test = (value: string) => (typeof text === 'string' ? value.includes(text) : text.test(value));
      if (test(shown)) return Promise.resolve(shown);
      return new Promise((resolve, reject) => {
        waiters.push({ test, resolve });
        void done.then(() => reject(new Error(`the terminal closed before showing ${String(text)}:\n${shown}`)));
      });
    },
    type: (keys) => void child.stdin.write(keys),
    transcript: () => shown,
    done,
  };
}
