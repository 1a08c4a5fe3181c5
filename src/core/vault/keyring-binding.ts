import { createRequire } from 'node:module';
import { arch, platform } from 'node:os';

export type Keyring = typeof import('@napi-rs/keyring');

/**
 * @napi-rs/keyring, loaded on first use, shared by the keychain and the
 * kernel backends. require(), not import(): the binding is CommonJS, and
 * importing it from ESM makes Node scan its source for export names on
 * every run, which costs whoami and token a few milliseconds each.
 */
let keyring: Keyring | undefined;
export const loadKeyring = (): Keyring => (keyring ??= requireKeyring());

function requireKeyring(): Keyring {
  const load = createRequire(import.meta.url);
  // The binding's index.js spends about 1.5 ms working out which C library
  // this is before it loads its platform package; on glibc Linux, load that
  // package directly. On musl it is not installed, and the index decides.
  if (platform() === 'linux' && (arch() === 'x64' || arch() === 'arm64')) {
    try {
      return load(`@napi-rs/keyring-linux-${arch()}-gnu`) as Keyring;
    } catch {
      // fall through to the index
    }
  }
  return load('@napi-rs/keyring') as Keyring;
}
