import { EXIT } from '../errors.js';
import { createProcessIO } from '../io.js';
import type { FastRequest } from './fast-args.js';
import { answerFast } from './fast-path.js';
import { reportError } from './report.js';

/**
 * The fast path in this process, when no agent answered: built on its own
 * (dist/cli/fast-local.cjs) so that a client the agent answers never
 * compiles the vault, crypto and keychain code. Exits with the answer, or
 * returns when the full CLI must answer.
 */
export async function answerHere(request: FastRequest): Promise<void> {
  const io = createProcessIO({ noColor: request.noColor, verbose: false });
  // Ctrl-C exits 130 here too; a lock left behind is taken over once its process is gone.
  const onInterrupt = () => process.exit(EXIT.interrupted);
  process.once('SIGINT', onInterrupt);
  const outcome = await answerFast(request, io).catch((err: unknown) => reportError(io, err));
  if (outcome !== 'full') process.exit(outcome);
  process.off('SIGINT', onInterrupt);
}
