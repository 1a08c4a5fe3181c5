import { DevloginError } from '../../errors.js';
import type { LoadedSession } from '../vault/vault.js';
import { sessionEnded, type SessionDeps } from './active.js';
import { endLocked } from './end.js';

export interface OnlineCheck {
  /** Which provider endpoints confirmed the session. */
  checkedWith: ('introspection' | 'userinfo' | 'user_api')[];
  /** Userinfo claims, when the provider has a userinfo endpoint. */
  userinfo?: Record<string, unknown>;
}

/** Failures that say nothing about the session: the provider could not be asked. */
const UNREACHABLE = new Set(['network', 'timeout', 'certificate', 'server_error']);

/**
 * Asks the provider whether the session is still valid: introspection
 * (RFC 7662) where offered, and userinfo. A definite "no" (inactive, or the
 * token rejected with 401) ends the session here and is exit 4; a provider
 * that cannot be reached is exit 7 and the session is kept. Call inside
 * withSession.
 */
export async function checkOnline(loaded: LoadedSession, deps: SessionDeps): Promise<OnlineCheck> {
  const oidc = await import('../oidc/tokens.js');
  const { record } = loaded;
  const config = oidc.providerConfig(record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
  const checkedWith: OnlineCheck['checkedWith'] = [];
  const dead = async (reason: string): Promise<never> => {
    await endLocked(record.profile, 'invalid', deps, { loaded, reason });
    throw sessionEnded(record.profile, 'The provider says this session is no longer valid; it was ended here too.', reason);
  };

  if (record.identityVerifiedBy === 'user_api') {
    // No OpenID Connect (GitHub): the provider's user API is the one to ask.
    const { fetchGithubUser } = await import('../providers/github.js');
    let user;
    try {
      user = await fetchGithubUser(record.issuer, record.accessToken, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
    } catch (err) {
      if (err instanceof DevloginError && err.code === 'invalid_token') return dead('invalid_token');
      throw err;
    }
    if (user.subject !== record.subject) return dead('another_user');
    return { checkedWith: ['user_api'], userinfo: { ...user.claims } };
  }

  let active: boolean | undefined;
  try {
    active = await oidc.introspectActive(config, record.refreshToken ?? record.accessToken, record.issuer);
  } catch (err) {
    // Many providers only let confidential clients introspect: a refusal is "not offered".
    if (err instanceof DevloginError && err.code !== undefined && UNREACHABLE.has(err.code)) throw err;
    active = undefined;
  }
  if (active === false) return dead('inactive');
  if (active === true) checkedWith.push('introspection');

  let userinfo: Record<string, unknown> | undefined;
  try {
    userinfo = await oidc.fetchUserinfo(config, record, record.dpop ? await oidc.dpopHandle(config, record.dpop) : undefined);
  } catch (err) {
    if (err instanceof DevloginError && (err.code === 'invalid_token' || err.code === 'http_401')) return dead('invalid_token');
    throw err;
  }
  if (userinfo) checkedWith.push('userinfo');
  return { checkedWith, ...(userinfo ? { userinfo } : {}) };
}
