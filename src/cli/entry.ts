import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describeThrown, EXIT } from '../errors.js';
import { askAgent } from './agent-client.js';
import { parseFastRequest } from './fast-args.js';

/**
 * What bin/devlogin runs, bundled as CommonJS (dist/cli/entry.cjs): whoami
 * and token on a valid session are answered by the agent when one runs
 * (devlogin agent start), else by the fast path in this process
 * (dist/cli/fast-local.cjs), and anything else loads the full CLI
 * (dist/cli/main.js, an ES module). Starting the ES module loader, commander
 * and the command tree costs more than the answer itself.
 */
async function run(argv: string[]): Promise<void> {
  const request = parseFastRequest(argv);
  if (request) {
    const answer = askAgent(request, process.env);
    if (answer && 'exit' in answer) {
      writeAll(1, answer.stdout);
      writeAll(2, answer.stderr);
      process.exit(answer.exit);
    }
    if (answer?.pass !== 'cli') {
      // require, not import(): import() would start the ES module loader.
      const { answerHere } = createRequire(import.meta.url)('./fast-local.cjs') as typeof import('./fast-local.js');
      await answerHere(request);
    }
  }
  // main.js reads process.argv and exits by itself.
  await import('./main.js');
}

/**
 * Writes straight to the file descriptor: building process.stdout for a
 * pipe costs more than the answer. A descriptor left non-blocking by the
 * parent (EAGAIN) gets the rest through the stream.
 */
function writeAll(fd: 1 | 2, text: string): void {
  let rest = Buffer.from(text, 'utf8');
  try {
    while (rest.length > 0) rest = rest.subarray(writeSync(fd, rest));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // A reader that has gone away (`devlogin token | true`) wants nothing more.
    if (code === 'EPIPE') return;
    if (code !== 'EAGAIN') throw err;
    (fd === 1 ? process.stdout : process.stderr).write(rest);
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`devlogin: unexpected error: ${describeThrown(err)}\n`);
  process.exit(EXIT.internal);
});
