import * as client from 'openid-client';
import { DevloginError, EXIT, providerError } from '../errors.js';
import { appendAudit, assertAuditWritable } from './audit.js';
import { readConfig, saveProfile } from './config.js';
import { discoverProvider } from './oidc/discovery.js';
import { fetchGithubUser } from './providers/github.js';
import { revocationUnavailable } from './oidc/tokens.js';
import { verificationHostWarning } from './oidc/verification-host.js';
import { readPolicy, policyRefusal } from './policy.js';
import { chooseDpopAlg, newDpopKey, type StoredDpopKey } from './oidc/dpop.js';
import { pollForTokens, requestDeviceAuthorization, type DeviceAuthorization, type PollNotice, type TokenResponse } from './oidc/device-flow.js';
import { verifiedIdentity } from './oidc/id-token.js';
import { lockProfile, nowSeconds, type SessionDeps } from './session/active.js';
import { endLocked } from './session/end.js';
import { canonicalTokenType, expiryFrom, newSessionId, type SessionRecord } from './session/record.js';
import { resolveLoginSettings, type Env, type LoginFlags, type LoginSettings } from './settings.js';
import type { LoadedSession, VaultBackend } from './vault/vault.js';

export interface LoginEvents {
  /** Settings are resolved and the vault is ready; about to contact the provider. */
  onStart?(settings: LoginSettings, backend: VaultBackend): void;
  /** The user code is known: show it. */
  onVerification(authorization: DeviceAuthorization, settings: LoginSettings): void | Promise<void>;
  onPollNotice?(notice: PollNotice): void;
  /** Warnings for the user that do not stop the login. */
  onWarning?(message: string): void;
}

export interface LoginDeps extends SessionDeps {
  env: Env;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  events: LoginEvents;
}

export interface LoginResult {
  record: SessionRecord;
  backend: VaultBackend;
  /** Scopes granted beyond those requested. */
  extraScopes: string[];
  /**
   * Set when the token never expires and this client cannot revoke it (a
   * GitHub OAuth App): the session end is local only, and the user is told.
   */
  localEnd?: string;
}

/** DESIGN.md "Login, step by step": device flow, verified identity, sealed session. */
export async function login(profile: string, flags: LoginFlags, deps: LoginDeps): Promise<LoginResult> {
  const { paths, env, vault } = deps;
  const config = await readConfig(paths);
  assertAuditWritable(paths);
  const policy = await readPolicy(env);
  const settings = resolveLoginSettings({ flags, env, profileName: profile, profile: config.profiles[profile] ?? {}, policy });
  // The vault is checked before the user is asked to approve anything.
  // A policy without the passphrase vault is checked first: nobody is asked for a passphrase it would refuse.
  const passphraseRefused = policy?.allowPassphraseVault === false;
  if (passphraseRefused && env.DEVLOGIN_VAULT?.trim() === 'passphrase') {
    throw policyRefusal(policy, 'allowPassphraseVault', 'sessions may not be stored in the passphrase vault, and DEVLOGIN_VAULT=passphrase was given.');
  }
  const backend = await vault.chooseBackend({ exclude: passphraseRefused ? ['passphrase'] : [] });
  if (passphraseRefused && backend === 'passphrase') {
    throw policyRefusal(policy, 'allowPassphraseVault', 'sessions may only be stored in the OS keychain, and the passphrase vault was chosen.');
  }
  deps.events.onStart?.(settings, backend);

  const audit = (outcome: 'success' | 'failure', extra: { subject?: string; sessionId?: string; reason?: string; scope?: string } = {}) =>
    appendAudit(deps, {
      event: outcome === 'success' ? 'login' : 'login_failed',
      profile,
      outcome,
      issuer: settings.issuer,
      clientId: settings.clientId,
      scope: extra.scope ?? settings.scope,
      ...extra,
    });

  try {
    const tokens = await runDeviceFlow(settings, deps);
    const identity = settings.preset.identity === 'user_api'
      ? await fetchGithubUser(settings.issuer, tokens.response.access_token, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds })
      : await verifiedIdentity(tokens.provider, tokens.response, {
        issuer: settings.issuer, now: deps.clock.now(), onWarning: deps.events.onWarning, dpop: tokens.dpopHandle,
        provider: settings.preset.name, takenIdToken: tokens.takenIdToken,
      });
    const granted = grantedScope(tokens.response, settings.scope, settings.preset.commaScopes === true);
    const idToken = tokens.response.id_token ?? tokens.takenIdToken;
    const now = nowSeconds(deps);
    const record: SessionRecord = {
      version: 1,
      sessionId: newSessionId(),
      profile,
      issuer: settings.issuer,
      clientId: settings.clientId,
      requestedScope: settings.scope,
      scope: granted,
      ...(settings.audience ? { audience: settings.audience } : {}),
      subject: identity.subject,
      claims: identity.claims,
      provider: settings.preset.name,
      identityVerifiedBy: settings.preset.identity,
      ...(settings.clientSecret ? { clientSecret: settings.clientSecret } : {}),
      tokenType: canonicalTokenType(tokens.response.token_type),
      accessToken: tokens.response.access_token,
      accessTokenExpiresAt: expiryFrom(tokens.response.expires_in, now),
      ...(tokens.response.refresh_token ? { refreshToken: tokens.response.refresh_token } : {}),
      ...(idToken ? { idToken } : {}),
      createdAt: now,
      sessionExpiresAt: now + settings.maxSessionSeconds,
      providerMetadata: { ...tokens.provider.serverMetadata() },
      ...(tokens.dpop ? { dpop: tokens.dpop } : {}),
    };
    if (deps.signal.aborted) throw new DevloginError(EXIT.interrupted, 'Interrupted; nothing was stored.');
    await storeReplacing(record, backend, deps);
    await saveProfile(paths, profile, {
      provider: settings.preset.name,
      issuer: settings.issuer,
      clientId: settings.clientId,
      scope: settings.scope,
      audience: settings.audience,
      dpop: settings.dpop === 'require',
    });
    await audit('success', { subject: record.subject, sessionId: record.sessionId, scope: granted });
    const how = record.accessTokenExpiresAt === null && !record.refreshToken ? revocationUnavailable(record) : undefined;
    const localEnd = how
      ? `This token never expires at the provider: it stays valid there until revoked (${how}). devlogin only forgets it here when the session ends.`
      : undefined;
    return { record, backend, extraScopes: scopeDifference(granted, settings.scope), ...(localEnd ? { localEnd } : {}) };
  } catch (err) {
    const reason = err instanceof DevloginError ? (err.code ?? exitReason(err.exitCode)) : 'internal_error';
    await audit('failure', { reason }).catch(() => undefined);
    throw err;
  }
}

/**
 * Stores the new session in place of the profile's old one, which must not
 * stay valid at the provider: it is revoked (best effort) once the new one is
 * stored. One that cannot be opened cannot be revoked: the user is told, and
 * the audit log says so.
 */
async function storeReplacing(record: SessionRecord, backend: VaultBackend, deps: LoginDeps): Promise<void> {
  const profile = record.profile;
  await lockProfile(profile, deps, async () => {
    let previous: LoadedSession | null = null;
    let unreadable: DevloginError | undefined;
    const stored = await deps.vault.readMeta(profile).catch(() => undefined);
    try {
      previous = await deps.vault.load(profile);
    } catch (err) {
      if (!(err instanceof DevloginError)) throw err;
      unreadable = err;
    }
    if (unreadable) {
      // Shred whatever key the unreadable session had before the new one takes its place.
      await deps.vault.remove(profile).catch(() => undefined);
    }
    await deps.vault.save(record, backend);
    if (previous) {
      const outcome = await endLocked(profile, 'replaced', deps, { loaded: previous });
      if (outcome.kind === 'ended' && outcome.revocation.kind !== 'revoked') {
        deps.events.onWarning?.('The session this login replaced could not be revoked at the provider.');
      }
    } else if (unreadable) {
      deps.events.onWarning?.(`The session this login replaced could not be opened (${unreadable.message}); it was overwritten without being revoked at the provider.`);
      await appendAudit(deps, {
        event: 'logout', profile, outcome: 'failure', reason: 'replaced_unreadable', revocation: 'not_asked',
        ...(stored ? { issuer: stored.meta.issuer, subject: stored.meta.subject, clientId: stored.meta.clientId, sessionId: stored.meta.sessionId } : {}),
      });
    }
  });
}

interface DeviceFlowResult {
  provider: client.Configuration;
  response: TokenResponse;
  /** Set when the tokens are bound to a DPoP key. */
  dpop?: StoredDpopKey;
  dpopHandle?: client.DPoPHandle;
  /** An ID token left for login to verify under the provider's issuer rule. */
  takenIdToken?: string | undefined;
}

async function runDeviceFlow(settings: LoginSettings, deps: LoginDeps): Promise<DeviceFlowResult> {
  const dpopMode = settings.dpop;
  let takenIdToken: string | undefined;
  const provider = await discoverProvider(settings.issuer, settings.clientId, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds }, {
    preset: settings.preset,
    clientSecret: settings.clientSecret,
    takeIdToken: (idToken) => void (takenIdToken = idToken),
  });
  const alg = dpopMode === 'require' ? chooseDpopAlg(provider.serverMetadata()) : undefined;
  if (dpopMode === 'require' && !alg) {
    throw providerError(`The provider ${settings.issuer} does not support DPoP (no usable dpop_signing_alg_values_supported), and DPoP is required.`, {
      code: 'dpop_unsupported',
      hint: 'Sign in without --dpop, or ask the provider to enable DPoP (RFC 9449).',
    });
  }
  const key = alg ? await newDpopKey(alg) : undefined;
  const dpopHandle = key ? client.getDPoPHandle(provider, key.keyPair) : undefined;
  const authorization = await requestDeviceAuthorization(provider, {
    scope: settings.scope,
    audience: settings.audience,
    issuer: settings.issuer,
    now: () => deps.clock.now(),
  });
  const warning = verificationHostWarning(authorization.verificationUri, settings.issuer, settings.trustedVerificationHosts);
  await deps.events.onVerification(warning ? { ...authorization, warning } : authorization, settings);
  const response = await pollForTokens(provider, authorization, {
    issuer: settings.issuer,
    signal: deps.signal,
    now: () => deps.clock.now(),
    sleep: deps.sleep,
    onNotice: deps.events.onPollNotice,
    dpop: dpopHandle,
  });
  if (!response.access_token) throw providerError('The provider returned no access token.', { code: 'malformed_response' });
  // RFC 9449 §5: a bound token comes back with token_type DPoP; Bearer means the provider did not bind it.
  const bound = key !== undefined && response.token_type.toLowerCase() === 'dpop';
  if (dpopMode === 'require' && !bound) {
    throw providerError('The provider did not bind the tokens to the DPoP key (token_type is not DPoP), and DPoP is required.', { code: 'dpop_not_bound' });
  }
  return bound ? { provider, response, dpop: key.stored, dpopHandle, takenIdToken } : { provider, response, takenIdToken };
}

/**
 * RFC 6749 §5.1: when the response has no scope, the granted scope is the
 * requested one (GitHub Apps send ""). GitHub OAuth Apps separate it with commas [GH1].
 */
function grantedScope(response: TokenResponse, requested: string, commas: boolean): string {
  const scope = typeof response.scope === 'string' ? response.scope.trim() : '';
  return scope !== '' ? scope.split(commas ? /[\s,]+/ : /\s+/).filter(Boolean).join(' ') : requested;
}

function scopeDifference(granted: string, requested: string): string[] {
  const wanted = new Set(requested.split(' '));
  return granted.split(' ').filter((scope) => scope && !wanted.has(scope));
}

function exitReason(exitCode: number): string {
  return Object.entries(EXIT).find(([, code]) => code === exitCode)?.[0] ?? `exit_${exitCode}`;
}
