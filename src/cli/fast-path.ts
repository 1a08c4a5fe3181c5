import { audit } from '../core/audit.js';
import { isSessionExpired, needsRefresh } from '../core/session.js';
import { withProfileLock } from '../core/vault/lock.js';
import type { KeyCache } from '../core/vault/key-cache.js';
import { createVault } from '../core/vault/vault.js';
import { EXIT } from '../errors.js';
import type { IO } from '../io.js';
import { createContext, parseMinTtl, type CommandContext } from './context.js';
import type { FastRequest } from './fast-args.js';
import { writeToken, writeWhoami } from './session-output.js';

/**
 * whoami and token on a valid stored session: what scripts call in loops.
 * The entry point answers them from here, without commander, the ES module
 * loader or any OIDC code. Every other case goes to the full CLI ('full'),
 * so each rule about ending, refreshing or refusing a session lives in one
 * place (active-session.ts); this path only reads and prints, with the same
 * lock, vault, audit event and output functions as the full commands.
 */

export interface FastPathOptions {
  /** The agent's keys in memory (agent-server.ts). */
  keyCache?: KeyCache;
  /** How long to wait for the profile lock (default: the lock's own). */
  lockTimeoutMs?: number;
}

/**
 * Answers the request and returns the exit code, or 'full' when the full
 * CLI must: no session, a session past its end (to purge), a token within
 * --min-ttl of expiry (to refresh), a DPoP-bound session (token refuses it),
 * a bad profile name or duration (to report). Vault and lock failures are
 * thrown as they are: the full CLI would meet the same ones.
 */
export async function answerFast(request: FastRequest, io: IO, options: FastPathOptions = {}): Promise<number | 'full'> {
  let ctx: CommandContext;
  let minTtlSeconds: number;
  try {
    ctx = createContext(io, { profile: request.profile }, new AbortController().signal, () => undefined);
    minTtlSeconds = request.command === 'token' ? parseMinTtl(request.minTtl) : 0;
  } catch {
    return 'full';
  }
  const { paths, profile } = ctx;
  const vault = createVault({ paths, env: io.env, keyCache: options.keyCache });
  const seconds = (): number => Math.floor(Date.now() / 1000);
  return withProfileLock(paths, profile, async () => {
    const stored = await vault.readMeta(profile);
    if (!stored || isSessionExpired(stored.meta, seconds())) return 'full';
    if (request.command === 'token' && needsRefresh(stored.meta, minTtlSeconds, seconds())) return 'full';
    const loaded = await vault.load(profile);
    if (!loaded) return 'full';
    if (request.command === 'whoami') {
      writeWhoami(io, loaded, request.json, Date.now() / 1000);
      return EXIT.ok;
    }
    if (loaded.record.dpop) return 'full';
    await audit({ paths }, 'token_read', loaded.record);
    writeToken(io, loaded.record, request.json);
    return EXIT.ok;
  }, { timeoutMs: options.lockTimeoutMs });
}
