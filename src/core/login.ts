import * as client from 'openid-client';
import { DevloginError, EXIT, providerError } from '../errors.js';
import { BEST_EFFORT_TIMEOUT_SECONDS } from './active-session.js';
import { appendAudit } from './audit.js';
import { readConfig, resolveLoginSettings, saveProfile, type LoginSettings } from './config.js';
import { formatDuration } from './duration.js';
import { discoverProvider } from './oidc/discovery.js';
import { verificationHostWarning } from './oidc/verification-host.js';
import { normalizeIssuer, policyRefusal, readPolicy, type Policy } from './policy.js';
import { chooseDpopAlg, newDpopKey, type DpopMode, type StoredDpopKey } from './oidc/dpop.js';
import { pollForTokens, requestDeviceAuthorization, type DeviceAuthorization, type PollNotice, type TokenResponse } from './oidc/device-flow.js';
import { verifiedIdentity } from './oidc/id-token.js';
import type { Paths } from './paths.js';
import { canonicalTokenType, newSessionId, type SessionRecord } from './session.js';
import { withProfileLock } from './vault/lock.js';
import type { Vault, VaultBackend } from './vault/vault.js';

export interface LoginOptions {
  profile: string;
  issuer?: string;
  clientId?: string;
  scope?: string;
  audience?: string;
  maxSession?: string;
  /** DPoP (RFC 9449): bind the session to a key when the provider offers it (auto), demand it, or never. */
  dpop?: DpopMode;
}

export interface LoginEvents {
  /** Settings are resolved and the vault is ready; about to contact the provider. */
  onStart?(settings: LoginSettings, backend: VaultBackend): void;
  /** The user code is known: show it. */
  onVerification(authorization: DeviceAuthorization, settings: LoginSettings): void | Promise<void>;
  onPollNotice?(notice: PollNotice): void;
  /** Warnings for the user that do not stop the login. */
  onWarning?(message: string): void;
}

export interface LoginDeps {
  paths: Paths;
  env: Readonly<Record<string, string | undefined>>;
  vault: Vault;
  signal: AbortSignal;
  /** Epoch milliseconds. */
  now: () => number;
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  fetch?: client.CustomFetch;
  httpTimeoutSeconds: number;
  events: LoginEvents;
}

export interface LoginResult {
  record: SessionRecord;
  backend: VaultBackend;
  /** Scopes granted beyond those requested. */
  extraScopes: string[];
}

/** DESIGN.md "Login, step by step": device flow, verified identity, sealed session. */
export async function login(options: LoginOptions, deps: LoginDeps): Promise<LoginResult> {
  const { paths, env, vault } = deps;
  const config = await readConfig(paths);
  const policy = await readPolicy(env);
  const { settings, dpopMode } = enforceLoginPolicy(
    policy,
    resolveLoginSettings({ flags: options, env, profile: config.profiles[options.profile] ?? {} }),
    options.dpop ?? 'auto',
  );
  // The vault is checked before the user is asked to approve anything.
  const backend = await vault.chooseBackend();
  if (policy?.allowPassphraseVault === false && backend === 'passphrase') {
    throw policyRefusal(policy, 'allowPassphraseVault', 'sessions may only be stored in the OS keychain, and the passphrase vault was chosen.');
  }
  deps.events.onStart?.(settings, backend);

  const audit = (outcome: 'success' | 'failure', extra: { subject?: string; sessionId?: string; reason?: string; scope?: string } = {}) =>
    appendAudit(paths, {
      event: outcome === 'success' ? 'login' : 'login_failed',
      profile: options.profile,
      outcome,
      issuer: settings.issuer,
      clientId: settings.clientId,
      scope: extra.scope ?? settings.scope,
      ...extra,
    });

  try {
    const trusted = [...settings.trustedVerificationHosts, ...(policy?.trustedVerificationHosts ?? [])];
    const tokens = await runDeviceFlow(settings, dpopMode, trusted, deps);
    const identity = await verifiedIdentity(tokens.provider, tokens.response, { issuer: settings.issuer, fetch: deps.fetch, onWarning: deps.events.onWarning, dpop: tokens.dpopHandle });
    const granted = grantedScope(tokens.response, settings.scope);
    const nowSeconds = Math.floor(deps.now() / 1000);
    const record: SessionRecord = {
      version: 1,
      sessionId: newSessionId(),
      profile: options.profile,
      issuer: settings.issuer,
      clientId: settings.clientId,
      requestedScope: settings.scope,
      scope: granted,
      ...(settings.audience ? { audience: settings.audience } : {}),
      subject: identity.subject,
      claims: identity.claims,
      tokenType: canonicalTokenType(tokens.response.token_type),
      accessToken: tokens.response.access_token,
      accessTokenExpiresAt: typeof tokens.response.expires_in === 'number' ? nowSeconds + tokens.response.expires_in : null,
      ...(tokens.response.refresh_token ? { refreshToken: tokens.response.refresh_token } : {}),
      ...(tokens.response.id_token ? { idToken: tokens.response.id_token } : {}),
      createdAt: nowSeconds,
      sessionExpiresAt: nowSeconds + settings.maxSessionSeconds,
      providerMetadata: { ...tokens.provider.serverMetadata() },
      ...(tokens.dpop ? { dpop: tokens.dpop } : {}),
    };
    if (deps.signal.aborted) throw new DevloginError(EXIT.interrupted, 'Interrupted; nothing was stored.');
    // The session this one replaces must not stay valid at the provider.
    const replaced = await withProfileLock(paths, options.profile, async () => {
      const previous = await vault.load(options.profile).catch(() => null);
      await vault.save(record, backend);
      return previous?.record;
    });
    if (replaced) await endReplacedSession(replaced, deps);
    await saveProfile(paths, options.profile, {
      issuer: settings.issuer,
      clientId: settings.clientId,
      scope: settings.scope,
      audience: settings.audience,
    });
    await audit('success', { subject: record.subject, sessionId: record.sessionId, scope: granted });
    return { record, backend, extraScopes: scopeDifference(granted, settings.scope) };
  } catch (err) {
    const reason = err instanceof DevloginError ? (err.code ?? exitReason(err.exitCode)) : 'internal_error';
    await audit('failure', { reason }).catch(() => undefined);
    throw err;
  }
}

interface DeviceFlowResult {
  provider: client.Configuration;
  response: TokenResponse;
  /** Set when the tokens are bound to a DPoP key. */
  dpop?: StoredDpopKey;
  dpopHandle?: client.DPoPHandle;
}

async function runDeviceFlow(settings: LoginSettings, dpopMode: DpopMode, trustedHosts: string[], deps: LoginDeps): Promise<DeviceFlowResult> {
  const provider = await discoverProvider(settings.issuer, settings.clientId, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds });
  const alg = dpopMode === 'off' ? undefined : chooseDpopAlg(provider.serverMetadata());
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
    now: deps.now,
  });
  const warning = verificationHostWarning(authorization.verificationUri, settings.issuer, trustedHosts);
  await deps.events.onVerification(warning ? { ...authorization, warning } : authorization, settings);
  const response = await pollForTokens(provider, authorization, {
    issuer: settings.issuer,
    signal: deps.signal,
    now: deps.now,
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
  return bound ? { provider, response, dpop: key.stored, dpopHandle } : { provider, response };
}

/** Best effort, short timeout: revokes the tokens of the session a new login replaced, and says so in the audit log. */
async function endReplacedSession(previous: SessionRecord, deps: LoginDeps): Promise<void> {
  let reason = 'replaced';
  try {
    const oidc = await import('./oidc/tokens.js');
    const config = oidc.providerConfig(previous, { fetch: deps.fetch, timeoutSeconds: Math.min(BEST_EFFORT_TIMEOUT_SECONDS, deps.httpTimeoutSeconds) });
    if ((await oidc.revokeTokens(config, previous)) !== 'revoked') reason = 'replaced_not_revoked';
  } catch {
    reason = 'replaced_not_revoked';
    deps.events.onWarning?.('The session this login replaced could not be revoked at the provider.');
  }
  await appendAudit(deps.paths, {
    event: 'logout', profile: previous.profile, outcome: 'success', reason,
    issuer: previous.issuer, subject: previous.subject, clientId: previous.clientId, sessionId: previous.sessionId,
  });
}

/** Applies the administrator's policy to the resolved settings: exit 2 naming the rule it breaks. */
function enforceLoginPolicy(policy: Policy | null, settings: LoginSettings, dpopMode: DpopMode): { settings: LoginSettings; dpopMode: DpopMode } {
  if (!policy) return { settings, dpopMode };
  if (policy.allowedIssuers && !policy.allowedIssuers.includes(normalizeIssuer(settings.issuer))) {
    throw policyRefusal(policy, 'allowedIssuers', `the issuer ${settings.issuer} is not one of the allowed issuers.`);
  }
  if (policy.allowedScopes) {
    const refused = settings.scope.split(' ').filter((scope) => scope !== 'openid' && !policy.allowedScopes!.includes(scope.toLowerCase()));
    if (refused.length > 0) throw policyRefusal(policy, 'allowedScopes', `the scope ${refused.join(' ')} may not be requested.`);
  }
  let maxSessionSeconds = settings.maxSessionSeconds;
  if (policy.maxSessionSeconds !== undefined && maxSessionSeconds > policy.maxSessionSeconds) {
    if (settings.maxSessionExplicit) {
      throw policyRefusal(policy, 'maxSession', `sessions may last at most ${formatDuration(policy.maxSessionSeconds)}, and ${formatDuration(maxSessionSeconds)} was asked for.`);
    }
    maxSessionSeconds = policy.maxSessionSeconds; // the default gives way to the ceiling
  }
  if (policy.requireDpop) {
    if (dpopMode === 'off') throw policyRefusal(policy, 'requireDpop', 'sessions must be DPoP-bound, and --no-dpop was given.');
    dpopMode = 'require';
  }
  return { settings: { ...settings, maxSessionSeconds }, dpopMode };
}

/** RFC 6749 §5.1: when the response has no scope, the granted scope is the requested one. */
function grantedScope(response: TokenResponse, requested: string): string {
  return typeof response.scope === 'string' && response.scope.trim() !== '' ? response.scope.trim().split(/\s+/).join(' ') : requested;
}

function scopeDifference(granted: string, requested: string): string[] {
  const wanted = new Set(requested.split(' '));
  return granted.split(' ').filter((scope) => scope && !wanted.has(scope));
}

function exitReason(exitCode: number): string {
  return Object.entries(EXIT).find(([, code]) => code === exitCode)?.[0] ?? `exit_${exitCode}`;
}
