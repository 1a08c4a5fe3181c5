import { CommanderError } from 'commander';
import { describeThrown, EXIT } from '../errors.js';
import { createProcessIO, type IO } from '../io.js';
import { buildProgram } from './program.js';
import { reportError } from './report.js';
import { devloginVersion } from './version.js';

/** What `exec` passes on to its child. */
const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

/**
 * The entry point, and the only module that touches process.exit, argv and
 * signals. Everything it calls receives an IO and an abort signal instead.
 */
async function main(argv: string[]): Promise<number> {
  const io = createProcessIO({ noColor: argv.includes('--no-color'), verbose: argv.includes('--verbose') });
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

  let exitCode: number = EXIT.ok;
  const program = buildProgram({
    io,
    signal: controller.signal,
    version: devloginVersion(),
    trapSignals,
    setExitCode: (code) => (exitCode = code),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    },
    selfCommand: [process.execPath, process.argv[1]!],
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    return report(io, err);
  }
}

function report(io: IO, err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
    io.stderr.write(`devlogin: ${err.message.replace(/^error: /, '')} (see devlogin --help)\n`);
    return EXIT.usage;
  }
  return reportError(io, err);
}


main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`devlogin: unexpected error: ${describeThrown(err)}\n`);
    process.exit(EXIT.internal);
  },
);
