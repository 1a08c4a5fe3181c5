import { connect } from 'node:net';
import { MAX_MESSAGE_BYTES, type AgentRequest } from './agent-protocol.js';

// Apart from agent-protocol.ts so that a client that finds no agent socket
// never loads the socket code.

/**
 * Sends one message and resolves with the parsed reply. Rejects when there
 * is no agent (ENOENT, ECONNREFUSED), on a reply that is not one JSON line,
 * and after `timeoutMs` without an answer.
 */
export function exchange(socketPath: string, message: AgentRequest, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const timer = setTimeout(() => finish(new Error('the agent did not answer in time')), timeoutMs);
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) {
        socket.destroy();
        reject(error);
        return;
      }
      // The reply is complete; the socket closes as the agent ends it.
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('the agent sent something that is not JSON'));
      }
    };
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) {
        finish(new Error('the agent sent too much'));
        return;
      }
      chunks.push(chunk);
      // A reply is one JSON line, and JSON text holds no raw newline: the
      // newline completes it. Answering now, before the socket's own
      // teardown runs, saves a whoami or token most of a millisecond.
      if (chunk[chunk.length - 1] === 0x0a) finish();
    });
    socket.once('end', () => finish());
    socket.once('error', (err) => finish(err));
    socket.end(`${JSON.stringify(message)}\n`);
  });
}
