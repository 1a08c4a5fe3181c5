import type * as client from 'openid-client';
import { DevloginError, EXIT } from '../../errors.js';
import { assertAuditWritable, type AuditSink } from '../audit.js';
import { profileFlag } from '../config.js';
import type { Paths } from '../paths.js';
import { withProfileLock, type LockDeps } from '../vault/lock.js';
import type { LoadedSession, Vault } from '../vault/vault.js';
import { endLocked } from './end.js';
import { isSessionExpired, toIso, type SessionRecord } from './record.js';

/** What the session use cases need; src/deps.ts's Deps has all of it. */
export interface SessionDeps extends LockDeps {
  paths: Paths;
  vault: Vault;
  /** The network seam: every request to the provider goes through it. */
  fetch: client.CustomFetch;
  httpTimeoutSeconds: number;
  /** DEVLOGIN_AUDIT_SYSLOG: where audit events go besides audit.log. */
  auditSink?: AuditSink | undefined;
  /** A warning for the user that does not stop the command (core never prints). */
  warn?: ((message: string) => void) | undefined;
}

export const nowSeconds = (deps: Pick<SessionDeps, 'clock'>): number => Math.floor(deps.clock.now() / 1000);
export const loginCommand = (profile: string): string => `"devlogin login${profileFlag(profile)}"`;

export function notSignedIn(profile: string): DevloginError {
  return new DevloginError(EXIT.notSignedIn, `Not signed in (profile "${profile}").`, { hint: `Run ${loginCommand(profile)}.`, code: 'not_signed_in' });
}

export function sessionEnded(profile: string, message: string, code: string): DevloginError {
  return new DevloginError(EXIT.sessionEnded, message, { hint: `Run ${loginCommand(profile)} to sign in again.`, code });
}

/**
 * The one place the profile lock is taken: reads, refreshes and ends of one
 * profile are serialised across processes (DESIGN.md "The vault"), and
 * whoever holds the lock re-reads the session after taking it.
 */
export function lockProfile<T>(profile: string, deps: SessionDeps, fn: () => Promise<T>): Promise<T> {
  return withProfileLock(deps.paths, profile, deps, fn);
}

/**
 * Runs `fn` with the profile's live session, holding the profile's lock. A
 * session past its maximum lifetime is ended first (exit 4); none at all is
 * exit 3.
 */
export function withSession<T>(profile: string, deps: SessionDeps, fn: (loaded: LoadedSession) => Promise<T>): Promise<T> {
  return lockProfile(profile, deps, async () => {
    assertAuditWritable(deps.paths);
    // The end of the session is in the clear part of the file: check it before unlocking anything.
    const stored = await deps.vault.readMeta(profile);
    if (!stored) throw notSignedIn(profile);
    if (isSessionExpired(stored.meta, nowSeconds(deps))) {
      await endLocked(profile, 'expired', deps, { reason: 'max_session' });
      throw sessionEnded(profile, `The session reached its maximum lifetime at ${toIso(stored.meta.sessionExpiresAt)} and was ended.`, 'session_expired');
    }
    const loaded = await deps.vault.load(profile);
    if (!loaded) throw notSignedIn(profile);
    return fn(loaded);
  });
}

/**
 * A DPoP-bound access token is useless without a proof from the session's
 * key, which never leaves the vault: token and exec refuse, and point to api.
 */
export function assertBearer(record: SessionRecord): void {
  if (!record.dpop) return;
  throw new DevloginError(EXIT.usage, 'This session\'s access token is bound to a DPoP key (RFC 9449) and is useless as a plain Bearer token.', {
    hint: `Use "devlogin api URL" to call APIs with it${profileFlag(record.profile)}, or sign in with --no-dpop to get a Bearer token.`,
    code: 'dpop_bound',
  });
}
