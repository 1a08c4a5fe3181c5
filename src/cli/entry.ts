import { EXIT } from '../errors.js';
import { parseFastRequest } from './fast-args.js';

/**
 * What bin/devlogin runs, bundled as CommonJS (dist/cli/entry.cjs): whoami
 * and token on a valid session are answered here, and anything else loads
 * the full CLI (dist/cli/main.js, an ES module). Starting the ES module
 * loader, commander and the command tree costs more than the answer itself.
 */
async function run(argv: string[]): Promise<void> {
  const request = parseFastRequest(argv);
  if (request) {
    // Loaded only now: the other commands do not pay for the vault, crypto and sockets twice.
    const [{ createProcessIO }, { answerFast }, { reportError }] = await Promise.all([import('../io.js'), import('./fast-path.js'), import('./report.js')]);
    const io = createProcessIO({ noColor: request.noColor, verbose: false });
    // Ctrl-C exits 130 here too; a lock left behind is taken over once its process is gone.
    const onInterrupt = () => process.exit(EXIT.interrupted);
    process.once('SIGINT', onInterrupt);
    const outcome = await answerFast(request, io).catch((err: unknown) => reportError(io, err));
    if (outcome !== 'full') process.exit(outcome);
    process.off('SIGINT', onInterrupt);
  }
  // main.js reads process.argv and exits by itself.
  await import('./main.js');
}

run(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`devlogin: unexpected error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(EXIT.internal);
});
