import { vaultError } from '../../errors.js';
import type { Env } from '../settings.js';
import type { KeyBackend } from './backend.js';
import { deriveKey, newScryptParams, open, seal, type ScryptParams } from './crypto.js';
import { wrapAad } from './envelope.js';
import { corruptHint } from './hints.js';

/**
 * Asks the person at the terminal for a secret, without echo; null when
 * there is no terminal to ask on. (src/deps.ts has the real one: /dev/tty,
 * never stdin; the tests script it.)
 */
export type PromptSecret = (question: string) => Promise<string | null>;

/** How many times a new passphrase may be mistyped at login before giving up. */
const NEW_PASSPHRASE_ATTEMPTS = 3;

/**
 * The passphrase backend: the session key sealed in the session file under a
 * key derived by scrypt from DEVLOGIN_VAULT_PASSPHRASE or, when that is
 * unset, from a passphrase asked on the terminal: twice for a new session
 * (at the vault check, before the sign-in starts), once to open one.
 */
export function createPassphraseBackend(env: Env, promptSecret: PromptSecret = async () => null): KeyBackend {
  /** A passphrase typed in this process: the one a new session is sealed with, tried first on others. */
  let typed: string | undefined;
  const fromEnv = (): string | undefined => env.DEVLOGIN_VAULT_PASSPHRASE || undefined;
  const missing = () => vaultError('The passphrase vault needs DEVLOGIN_VAULT_PASSPHRASE or a terminal to ask on, and there is neither.', {
    hint: 'Set DEVLOGIN_VAULT_PASSPHRASE to the passphrase (the one used at login, for an existing session), or run devlogin on a terminal.',
    code: 'vault_passphrase_missing',
  });

  async function askNew(): Promise<string> {
    for (let attempt = 1; attempt <= NEW_PASSPHRASE_ATTEMPTS; attempt += 1) {
      const first = await promptSecret('New vault passphrase: ');
      if (first === null) throw missing();
      if (first === '') continue;
      const second = await promptSecret('Repeat the passphrase: ');
      if (second === null) throw missing();
      if (first === second) return first;
    }
    throw vaultError('The passphrases were empty or did not match.', {
      hint: 'Run the command again and type the same passphrase twice, or set DEVLOGIN_VAULT_PASSPHRASE.',
      code: 'vault_passphrase_mismatch',
    });
  }

  async function current(profile: string): Promise<string> {
    const known = fromEnv() ?? typed;
    if (known !== undefined) return known;
    const answer = await promptSecret(`Vault passphrase for profile "${profile}": `);
    if (answer === null) throw missing();
    return answer;
  }

  return {
    name: 'passphrase',
    async probe() {
      // Asked here, as the vault is checked, so that nobody approves a sign-in that cannot be stored.
      if (fromEnv() === undefined && typed === undefined) typed = await askNew();
    },
    async wrap(key, meta) {
      const secret = fromEnv() ?? typed;
      if (secret === undefined) throw missing();
      const kdf = newScryptParams();
      return { ...seal(await deriveKey(secret, kdf), key, wrapAad(meta)), kdf };
    },
    async unwrap(envelope) {
      const { profile } = envelope.meta;
      const wrapped = envelope.wrappedKey;
      const corrupt = (cause?: unknown) =>
        vaultError(`The stored session for profile "${profile}" is corrupt.`, { hint: corruptHint(profile), cause, code: 'vault_corrupt' });
      if (!wrapped || wrapped.kdf.kdf !== 'scrypt') throw corrupt();
      const secret = await current(profile);
      const kek = await deriveKey(secret, wrapped.kdf as ScryptParams).catch((err: unknown) => {
        throw corrupt(err);
      });
      try {
        return { key: open(kek, wrapped, wrapAad(envelope.meta)) };
      } catch {
        throw vaultError('Wrong vault passphrase, or the session file was tampered with.', {
          hint: `Check ${fromEnv() === undefined ? 'the passphrase' : 'DEVLOGIN_VAULT_PASSPHRASE'}. ${corruptHint(profile)}`,
          code: 'vault_passphrase',
        });
      }
    },
    async advance() {
      // The key travels with the file: nothing outside it to keep a generation in.
    },
    opensQuietly: () => fromEnv() !== undefined || typed !== undefined,
    async remove() {
      // The wrapped key is in the session file, which vault.ts deletes.
    },
  };
}
