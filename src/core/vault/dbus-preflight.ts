import { connect } from 'node:net';
import { platform, userInfo } from 'node:os';

/**
 * The keyring binding connects to the D-Bus session bus synchronously, on
 * the main thread, when an entry is created: a bus that accepts the
 * connection but never answers would hang devlogin for good, beyond the
 * reach of any timer. So before that, this checks asynchronously, with a
 * timeout, that the bus answers the first step of its handshake (SASL AUTH
 * EXTERNAL, D-Bus specification "Authentication protocol").
 *
 * Resolves when the bus answers, or when there is nothing to check (not
 * Linux, no address, an address that is not a unix socket, a refused
 * connection: the binding then fails fast on its own). Rejects with
 * 'timeout' when the bus stays silent.
 */
export function checkSessionBus(address: string | undefined, timeoutMs: number): Promise<void> {
  const path = platform() === 'linux' && address ? socketPath(address) : undefined;
  if (path === undefined) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const socket = connect({ path });
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error('timeout')), timeoutMs);
    socket.once('connect', () => {
      const uid = Buffer.from(String(userInfo().uid)).toString('hex');
      socket.write(`\0AUTH EXTERNAL ${uid}\r\n`);
    });
    // Any answer (OK, REJECTED, ERROR) shows the bus is alive.
    socket.once('data', () => done());
    socket.once('error', () => done());
    socket.once('close', () => done());
  });
}

/** The first unix socket of a bus address: `unix:path=/run/user/1000/bus` or `unix:abstract=/tmp/dbus-x`. */
function socketPath(address: string): string | undefined {
  for (const entry of address.split(';')) {
    if (!entry.startsWith('unix:')) continue;
    const fields = new Map(entry.slice(5).split(',').map((pair) => {
      const index = pair.indexOf('=');
      return [pair.slice(0, index), decodeURIComponent(pair.slice(index + 1))] as const;
    }));
    if (fields.has('path')) return fields.get('path');
    if (fields.has('abstract')) return `\0${fields.get('abstract')}`;
  }
  return undefined;
}
