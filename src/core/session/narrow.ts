import { DevloginError, EXIT, usageError } from '../../errors.js';
import { audit } from '../audit.js';
import type { LoadedSession } from '../vault/vault.js';
import { nowSeconds, type SessionDeps } from './active.js';
import { rejectedSession, storeRenewed, withRoomToStore } from './refresh.js';
import { narrowKey, needsRefresh, type NarrowToken } from './record.js';

export interface NarrowRequest {
  /** Each one granted to the session (checked here, before any request). */
  scopes: readonly string[];
  /** RFC 8707 resource indicator. */
  resource?: string | undefined;
  minTtlSeconds: number;
}

/**
 * An access token for fewer scopes than the session's (token/exec/api
 * --scope), from the sealed cache when one is valid for at least
 * `minTtlSeconds`, else from the provider with the session's refresh token
 * (RFC 6749 §6). The session keeps its full scope and stores the refresh
 * token the provider rotated. Call inside withSession (the lock).
 */
export async function narrowFresh(loaded: LoadedSession, request: NarrowRequest, deps: SessionDeps): Promise<{ loaded: LoadedSession; token: NarrowToken }> {
  const { record } = loaded;
  const granted = new Set(record.scope.split(' '));
  const missing = request.scopes.filter((scope) => !granted.has(scope));
  if (missing.length > 0) {
    throw usageError(`The session was not granted ${missing.map((scope) => `"${scope}"`).join(', ')}, so no token can have it.`, `Granted: ${record.scope}. Sign in with --scope to ask for more.`);
  }
  const key = narrowKey(request.scopes, request.resource);
  const cached = record.narrowTokens?.[key];
  if (cached && !needsRefresh(cached, request.minTtlSeconds, nowSeconds(deps))) return { loaded, token: cached };
  if (!record.refreshToken) {
    throw new DevloginError(EXIT.usage, 'This session has no refresh token, so devlogin cannot ask the provider for a narrower token.', {
      hint: 'Sign in with a scope that includes offline_access (or your provider\'s equivalent).',
      code: 'no_refresh_token',
    });
  }
  const oidc = await import('../oidc/tokens.js');
  const ask = async (current: LoadedSession) => {
    const config = oidc.providerConfig(current.record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
    const dpop = current.record.dpop ? await oidc.dpopHandle(config, current.record.dpop) : undefined;
    return oidc.narrowTokens(config, current.record, { scope: [...request.scopes].join(' '), resource: request.resource }, nowSeconds(deps), dpop);
  };
  return withRoomToStore(loaded, deps, async (reservation) => {
    let current = loaded;
    let result;
    try {
      result = await ask(current);
    } catch (err) {
      if (!(err instanceof DevloginError) || err.code !== 'invalid_grant') throw err;
      // A process that took over a stale lock may have rotated the refresh token: try once with the stored one.
      const again = await deps.vault.load(record.profile);
      if (!again || again.record.refreshToken === record.refreshToken) return rejectedSession(loaded, deps);
      current = again;
      try {
        result = await ask(current);
      } catch (retryErr) {
        if (retryErr instanceof DevloginError && retryErr.code === 'invalid_grant') return rejectedSession(current, deps);
        throw retryErr;
      }
    }
    const updated = { ...result.record, narrowTokens: { ...current.record.narrowTokens, [key]: result.token } };
    const stored = await storeRenewed(current, updated, reservation, deps);
    await audit(deps, 'refresh', updated, { scope: result.token.scope });
    return { loaded: stored, token: result.token };
  });
}
