import { runProgram } from './cli/program.js';
import { reportError } from './cli/report.js';
import { createProcessDeps } from './deps.js';
import { describeThrown, EXIT } from './errors.js';
import { createProcessIO, flushProcessStreams } from './io.js';

/** What `exec` passes on to its child. */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/**
 * The entry point (bin/devlogin loads the bundle of this file). With deps.ts
 * and io.ts, the only code that touches process: it builds the process's
 * IO and Deps, handles Ctrl-C, runs the program and exits with its code.
 */
async function main(argv: string[]): Promise<number> {
  const io = createProcessIO(process.env, { noColor: argv.includes('--no-color'), verbose: argv.includes('--verbose') });
  const controller = new AbortController();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts += 1;
    controller.abort();
    // A request or keychain call that ignores the signal must not hold Ctrl-C hostage.
    if (interrupts > 1) process.exit(EXIT.interrupted);
    setTimeout(() => {
      io.stderr.write('\nInterrupted; nothing was stored.\n');
      process.exit(EXIT.interrupted);
    }, 1000).unref();
  };
  process.on('SIGINT', onInterrupt);
  const trapSignals = (handler: (signal: NodeJS.Signals) => void) => {
    process.off('SIGINT', onInterrupt);
    for (const signal of FORWARDED_SIGNALS) process.on(signal, handler);
  };
  let deps;
  try {
    deps = createProcessDeps({ io, signal: controller.signal, trapSignals });
  } catch (err) {
    return reportError(io, err);
  }
  return runProgram(argv, deps);
}

main(process.argv.slice(2)).then(
  async (code) => {
    await flushProcessStreams();
    process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`devlogin: unexpected error: ${describeThrown(err)}\n`);
    process.exit(EXIT.internal);
  },
);
