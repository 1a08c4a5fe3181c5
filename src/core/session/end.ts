import { DevloginError, providerError } from '../../errors.js';
import { appendAudit, type AuditEvent } from '../audit.js';
import type { LoadedSession } from '../vault/vault.js';
import { lockProfile, notSignedIn, type SessionDeps } from './active.js';
import type { SessionMeta, SessionRecord } from './record.js';

/**
 * How a session ends (DESIGN.md "Session lifetime", "Commands"):
 * - `logout`: revoke at the provider (best effort), then remove here;
 * - `local`: remove here without telling the provider (logout --local);
 * - `revoke`: revoke and confirm; when the provider was not surely told, keep it;
 * - `expired`: past its maximum lifetime, or unusable: revoke (best effort, short timeout), remove;
 * - `invalid`: the provider already says it is dead (invalid_grant, inactive): remove, nothing to revoke;
 * - `replaced`: a new login took the profile: revoke the old tokens (best effort); the file is already the new one.
 */
export type EndMode = 'logout' | 'local' | 'revoke' | 'expired' | 'invalid' | 'replaced';

/** What the provider said to the revocation, when it was asked. */
export type Revocation =
  | { kind: 'revoked' }
  | { kind: 'no_endpoint' }
  /** This client has no way to revoke at this provider; `how` says how to do it there. */
  | { kind: 'cannot_revoke'; how: string }
  | { kind: 'failed'; error: DevloginError }
  | { kind: 'not_asked' };

/** revoke only: whether introspection (RFC 7662) confirmed the tokens are dead. */
export type Confirmation =
  | { kind: 'confirmed' }
  | { kind: 'still_active' }
  | { kind: 'no_introspection' }
  | { kind: 'failed'; error: DevloginError };

export type EndOutcome =
  | { kind: 'nothing' }
  | {
      kind: 'ended';
      /** What is known of the session: all of it, or only the clear metadata when it could not be opened. */
      meta: SessionMeta | undefined;
      record: SessionRecord | undefined;
      revocation: Revocation;
      confirmation?: Confirmation;
      /** It could not be opened (wrong passphrase, corrupt): removed without revoking. */
      unreadable?: DevloginError;
      /** The backend could not delete the key; the file is gone all the same. */
      keyError?: unknown;
    }
  | { kind: 'kept'; record: SessionRecord; revocation: Revocation; confirmation?: Confirmation };

/** Best-effort revocation must not hold a command up for long. */
export const BEST_EFFORT_TIMEOUT_SECONDS = 3;

const loadOidc = () => import('../oidc/tokens.js');

export interface EndOptions {
  /** The session when the caller has it open already. */
  loaded?: LoadedSession | undefined;
  /** The audit reason (default: the mode's own). */
  reason?: string;
}

const DEFAULT_REASON: Record<EndMode, string> = {
  logout: 'user', local: 'local', revoke: 'user', expired: 'max_session', invalid: 'invalid_grant', replaced: 'replaced',
};

/** Ends a profile's session, taking the profile's lock. */
export function endSession(profile: string, mode: EndMode, deps: SessionDeps, options: EndOptions = {}): Promise<EndOutcome> {
  return lockProfile(profile, deps, () => endLocked(profile, mode, deps, options));
}

/**
 * endSession for a caller that holds the profile's lock already. The key is
 * deleted before the file (crypto-shredding); every outcome is audited.
 */
export async function endLocked(profile: string, mode: EndMode, deps: SessionDeps, options: EndOptions = {}): Promise<EndOutcome> {
  const reason = options.reason ?? DEFAULT_REASON[mode];
  if (mode === 'replaced') {
    const record = options.loaded!.record;
    const revocation = await revokeAtProvider(record, deps, BEST_EFFORT_TIMEOUT_SECONDS);
    await auditEnd(deps, 'logout', profile, record, revocation.kind === 'revoked' ? 'replaced' : 'replaced_not_revoked', revocation);
    return { kind: 'ended', meta: record, record, revocation };
  }

  let meta: SessionMeta | undefined;
  try {
    const stored = await deps.vault.readMeta(profile);
    if (!stored) {
      if (mode === 'revoke') throw notSignedIn(profile);
      return { kind: 'nothing' };
    }
    meta = stored.meta;
  } catch (err) {
    if (mode === 'revoke') throw err;
    meta = undefined; // an unreadable file is still removed
  }

  let loaded = options.loaded;
  let unreadable: DevloginError | undefined;
  if (!loaded && mode !== 'local' && mode !== 'invalid' && meta) {
    try {
      loaded = (await deps.vault.load(profile)) ?? undefined;
    } catch (err) {
      // revoke keeps what it cannot open: the user can fix the passphrase and retry.
      if (mode === 'revoke' || !(err instanceof DevloginError)) throw err;
      unreadable = err;
    }
  }
  const record = loaded?.record;

  let revocation: Revocation = { kind: 'not_asked' };
  let confirmation: Confirmation | undefined;
  if (record && (mode === 'logout' || mode === 'revoke' || mode === 'expired')) {
    const timeout = mode === 'revoke' ? deps.httpTimeoutSeconds : Math.min(BEST_EFFORT_TIMEOUT_SECONDS, deps.httpTimeoutSeconds);
    revocation = await revokeAtProvider(record, deps, timeout);
  }
  if (mode === 'revoke' && record) {
    if (revocation.kind === 'revoked') confirmation = await confirmRevoked(record, deps);
    const told = revocation.kind === 'revoked' && confirmation?.kind !== 'still_active';
    if (!told) {
      await auditEnd(deps, 'revoke', profile, record, revokeFailureReason(revocation, confirmation), revocation, 'failure');
      return { kind: 'kept', record, revocation, ...(confirmation ? { confirmation } : {}) };
    }
  }

  let keyError: unknown;
  try {
    await deps.vault.remove(profile);
  } catch (err) {
    keyError = err;
  }
  const event = mode === 'revoke' ? 'revoke' : mode === 'expired' || mode === 'invalid' ? 'session_expired' : 'logout';
  await auditEnd(deps, event, profile, record ?? meta, unreadable ? 'unreadable' : reason, revocation);
  return {
    kind: 'ended',
    meta: record ?? meta,
    record,
    revocation,
    ...(confirmation ? { confirmation } : {}),
    ...(unreadable ? { unreadable } : {}),
    ...(keyError !== undefined ? { keyError } : {}),
  };
}

/** RFC 7009 at the provider; every failure becomes an outcome, never an exception. */
async function revokeAtProvider(record: SessionRecord, deps: SessionDeps, timeoutSeconds: number): Promise<Revocation> {
  try {
    const oidc = await loadOidc();
    const config = oidc.providerConfig(record, { fetch: deps.fetch, timeoutSeconds });
    const outcome = await oidc.revokeTokens(config, record, { fetch: deps.fetch, timeoutSeconds });
    if (outcome === 'cannot_revoke') return { kind: 'cannot_revoke', how: oidc.revocationUnavailable(record)! };
    return outcome === 'no_endpoint' ? { kind: 'no_endpoint' } : { kind: 'revoked' };
  } catch (err) {
    return { kind: 'failed', error: err instanceof DevloginError ? err : providerError('Revocation failed.', { cause: err, code: 'provider_error' }) };
  }
}

/** RFC 7662 §2.2: a revoked token introspects as `active: false`. */
async function confirmRevoked(record: SessionRecord, deps: SessionDeps): Promise<Confirmation> {
  try {
    const oidc = await loadOidc();
    const config = oidc.providerConfig(record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
    const active = await oidc.introspectActive(config, record.refreshToken ?? record.accessToken, record.issuer);
    return active === undefined ? { kind: 'no_introspection' } : active ? { kind: 'still_active' } : { kind: 'confirmed' };
  } catch (err) {
    return { kind: 'failed', error: err instanceof DevloginError ? err : providerError('Introspection failed.', { cause: err, code: 'provider_error' }) };
  }
}

function revokeFailureReason(revocation: Revocation, confirmation: Confirmation | undefined): string {
  if (revocation.kind === 'no_endpoint') return 'no_revocation_endpoint';
  if (revocation.kind === 'cannot_revoke') return 'cannot_revoke';
  if (revocation.kind === 'failed') return revocation.error.code ?? 'provider_error';
  if (confirmation?.kind === 'still_active') return 'still_active';
  return 'not_revoked';
}

function auditEnd(
  deps: SessionDeps,
  event: AuditEvent['event'],
  profile: string,
  about: SessionMeta | undefined,
  reason: string,
  revocation: Revocation,
  outcome: AuditEvent['outcome'] = 'success',
): Promise<void> {
  return appendAudit(deps, {
    event,
    profile,
    outcome,
    reason,
    revocation: revocation.kind,
    ...(about ? { issuer: about.issuer, subject: about.subject, clientId: about.clientId, sessionId: about.sessionId } : {}),
  });
}
