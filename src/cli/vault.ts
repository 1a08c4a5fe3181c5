import { newVaultKey } from '../core/vault/crypto.js';
import type { Deps } from '../deps.js';

/**
 * `devlogin vault new-key`: a fresh random key for DEVLOGIN_VAULT_KEY, on
 * stdout only (to go straight into a CI secret store); never stored here.
 */
export function runVaultNewKey(deps: Pick<Deps, 'io'>): void {
  deps.io.stdout.write(`${newVaultKey()}\n`);
  if (deps.io.stdoutIsTTY) {
    deps.io.stderr.write('Keep it in your CI secret store as DEVLOGIN_VAULT_KEY, with DEVLOGIN_VAULT=key; devlogin keeps no copy.\n');
  }
}
