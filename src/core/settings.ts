import { DevloginError, EXIT, usageError } from '../errors.js';
import { DEFAULT_PROFILE, validateProfileName, type ProfileConfig } from './config.js';
import { formatDuration, parseDuration } from './duration.js';
import { parseIssuer } from './oidc/issuer-url.js';
import type { DpopMode } from './oidc/dpop.js';
import { normalizeIssuer, policyRefusal, type Policy } from './policy.js';
import { isProviderName, PRESETS, PROVIDER_NAMES, recognizeProvider, type Preset } from './providers/presets.js';
import { decodeVaultKey } from './vault/crypto.js';

/**
 * Every setting is resolved here, once: flag > environment > the profile in
 * config.json > default, then the hard ceilings and the administrator's
 * policy. An error names the source the bad value came from.
 */

export type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_SCOPE = 'openid profile email offline_access';
export const DEFAULT_MAX_SESSION_SECONDS = 3600;
/** DESIGN.md "Session lifetime": no session lasts longer, whatever the policy or the flags say. */
export const MAX_SESSION_CEILING_SECONDS = 12 * 3600;
export const DEFAULT_MIN_TTL_SECONDS = 60;
export const DEFAULT_HTTP_TIMEOUT_SECONDS = 15;

/** --profile, else DEVLOGIN_PROFILE, else "default". */
export function resolveProfile(flag: string | undefined, env: Env): string {
  return validateProfileName(flag ?? nonEmpty(env.DEVLOGIN_PROFILE) ?? DEFAULT_PROFILE);
}

/** DEVLOGIN_HTTP_TIMEOUT (default 15 s): the timeout of each request to a provider. */
export function resolveHttpTimeout(env: Env): number {
  const text = nonEmpty(env.DEVLOGIN_HTTP_TIMEOUT);
  return text === undefined ? DEFAULT_HTTP_TIMEOUT_SECONDS : parseDuration(text, 'DEVLOGIN_HTTP_TIMEOUT');
}

/**
 * DEVLOGIN_VAULT_KEY, the `key` vault's key (DESIGN.md "Environment"): 32
 * random bytes as 43 characters of unpadded base64url. Unset is undefined;
 * anything else is exit 2 naming the variable, never echoing its value.
 */
export function resolveVaultKey(env: Env): Buffer | undefined {
  const text = nonEmpty(env.DEVLOGIN_VAULT_KEY);
  if (text === undefined) return undefined;
  const key = decodeVaultKey(text);
  if (!key) {
    throw new DevloginError(EXIT.usage, 'DEVLOGIN_VAULT_KEY is not a vault key: it must be 43 characters of unpadded base64url (32 random bytes).', {
      hint: 'Make one with "devlogin vault new-key" and keep it in your CI secret store.',
      code: 'vault_key_malformed',
    });
  }
  return key;
}

/** --min-ttl, already parsed at the edge, or the default. */
export const resolveMinTtl = (flagSeconds: number | undefined): number => flagSeconds ?? DEFAULT_MIN_TTL_SECONDS;

/** login's flags, durations already parsed. */
export interface LoginFlags {
  provider?: string | undefined;
  issuer?: string | undefined;
  clientId?: string | undefined;
  scope?: string | undefined;
  audience?: string | undefined;
  maxSessionSeconds?: number | undefined;
  dpop?: DpopMode | undefined;
}

export interface LoginSettings {
  preset: Preset;
  issuer: string;
  clientId: string;
  scope: string;
  audience: string | undefined;
  maxSessionSeconds: number;
  dpop: DpopMode;
  /** DEVLOGIN_CLIENT_SECRET, for providers whose device clients have one: sealed in the session, never saved or shown. */
  clientSecret: string | undefined;
  /** The profile's and the policy's together. */
  trustedVerificationHosts: string[];
}

export interface LoginSources {
  flags: LoginFlags;
  env: Env;
  profileName: string;
  profile: ProfileConfig;
  policy: Policy | null;
}

/** Login settings with every source, ceiling and policy rule applied; exit 2 naming the source or rule. */
export function resolveLoginSettings({ flags, env, profileName, profile, policy }: LoginSources): LoginSettings {
  const fromProfile = `config.json (profile "${profileName}")`;
  const pick = (flag: string | undefined, envName: string, saved: string | undefined): string | undefined =>
    nonEmpty(flag) ?? nonEmpty(env[envName]) ?? nonEmpty(saved);

  // The preset: --provider, DEVLOGIN_PROVIDER, the profile, else recognised from the issuer's host.
  const named = [
    { name: nonEmpty(flags.provider), source: '--provider' },
    { name: nonEmpty(env.DEVLOGIN_PROVIDER), source: 'DEVLOGIN_PROVIDER' },
    { name: nonEmpty(profile.provider), source: `provider in ${fromProfile}` },
  ].find((candidate) => candidate.name !== undefined);
  const namedName = named?.name?.toLowerCase();
  if (named && namedName !== undefined && !isProviderName(namedName)) {
    throw usageError(`Unknown provider "${named.name!.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)}" (${named.source}).`, `Use one of: ${PROVIDER_NAMES.join(', ')}.`);
  }
  const namedPreset = namedName !== undefined && isProviderName(namedName) ? PRESETS[namedName] : undefined;
  // The profile's saved issuer belongs to its saved provider, not to another one named now.
  const otherProvider = namedPreset !== undefined && profile.provider !== undefined && profile.provider.toLowerCase() !== namedPreset.name;
  const profileIssuer = otherProvider ? undefined : profile.issuer;
  const issuer = pick(flags.issuer, 'DEVLOGIN_ISSUER', profileIssuer) ?? namedPreset?.defaultIssuer;
  if (!issuer) {
    throw usageError(namedPreset ? `No issuer is configured, and ${namedPreset.name} has no default one.` : 'No issuer is configured.', 'Pass --issuer URL or set DEVLOGIN_ISSUER.');
  }
  parseIssuer(issuer);
  const preset = namedPreset ?? PRESETS[recognizeProvider(issuer)];
  const clientId = pick(flags.clientId, 'DEVLOGIN_CLIENT_ID', profile.clientId);
  if (!clientId) throw usageError('No client id is configured.', 'Pass --client-id ID or set DEVLOGIN_CLIENT_ID.');
  const scopeSource = nonEmpty(flags.scope) !== undefined ? '--scope' : nonEmpty(env.DEVLOGIN_SCOPE) !== undefined ? 'DEVLOGIN_SCOPE' : nonEmpty(profile.scope) !== undefined ? `scope in ${fromProfile}` : undefined;
  const scope = normalizeScope(pick(flags.scope, 'DEVLOGIN_SCOPE', profile.scope) ?? preset.defaultScope, preset.identity === 'id_token');
  if (preset.allowedScopes) {
    const refused = scope.split(' ').filter((item) => !preset.allowedScopes!.includes(item));
    if (refused.length > 0) {
      throw usageError(`${preset.name} does not allow the scope ${refused.join(' ')} in the device flow (${scopeSource ?? 'default'}).`, `Allowed: ${preset.allowedScopes.join(' ')}.`);
    }
  }
  const clientSecret = nonEmpty(env.DEVLOGIN_CLIENT_SECRET);
  if (clientSecret && preset.secret === 'never') {
    throw usageError(`${preset.name} device-flow clients have no secret, and DEVLOGIN_CLIENT_SECRET is set.`, 'Unset DEVLOGIN_CLIENT_SECRET: the provider refuses a client that sends one.');
  }
  if (!clientSecret && preset.secretRequired) {
    throw usageError(`${preset.name} needs the client's secret for the device flow.`, 'Set DEVLOGIN_CLIENT_SECRET to the secret of the "TVs and Limited Input devices" client (never pass it as a flag).');
  }

  const maxSession = flags.maxSessionSeconds !== undefined
    ? { seconds: flags.maxSessionSeconds, source: '--max-session' }
    : nonEmpty(env.DEVLOGIN_MAX_SESSION) !== undefined
      ? { seconds: parseDuration(env.DEVLOGIN_MAX_SESSION!, 'DEVLOGIN_MAX_SESSION'), source: 'DEVLOGIN_MAX_SESSION' }
      : nonEmpty(profile.maxSession) !== undefined
        ? { seconds: parseDuration(profile.maxSession!, `maxSession in ${fromProfile}`), source: `maxSession in ${fromProfile}` }
        : undefined;
  if (maxSession && maxSession.seconds > MAX_SESSION_CEILING_SECONDS) {
    throw usageError(`The max session of ${formatDuration(maxSession.seconds)} (${maxSession.source}) is longer than the 12h ceiling.`, 'Use 12h or less.');
  }
  let maxSessionSeconds = maxSession?.seconds ?? DEFAULT_MAX_SESSION_SECONDS;
  let dpop: DpopMode = flags.dpop ?? (profile.dpop === true ? 'require' : 'off');

  if (policy) {
    if (policy.allowedIssuers && !policy.allowedIssuers.includes(normalizeIssuer(issuer))) {
      throw policyRefusal(policy, 'allowedIssuers', `the issuer ${issuer} is not one of the allowed issuers.`);
    }
    if (policy.allowedScopes) {
      const refused = scope.split(' ').filter((item) => item !== 'openid' && !policy.allowedScopes!.includes(item.toLowerCase()));
      if (refused.length > 0) throw policyRefusal(policy, 'allowedScopes', `the scope ${refused.join(' ')} may not be requested.`);
    }
    if (policy.maxSessionSeconds !== undefined && maxSessionSeconds > policy.maxSessionSeconds) {
      if (maxSession) {
        throw policyRefusal(policy, 'maxSession', `sessions may last at most ${formatDuration(policy.maxSessionSeconds)}, and ${formatDuration(maxSessionSeconds)} was asked for (${maxSession.source}).`);
      }
      maxSessionSeconds = policy.maxSessionSeconds; // the default gives way to the policy's ceiling
    }
    if (policy.requireDpop) {
      if (flags.dpop === 'off') throw policyRefusal(policy, 'requireDpop', 'sessions must be DPoP-bound, and --no-dpop was given.');
      dpop = 'require';
    }
  }

  return {
    preset,
    issuer,
    clientId,
    scope,
    audience: nonEmpty(flags.audience) ?? nonEmpty(profile.audience),
    maxSessionSeconds,
    dpop,
    clientSecret,
    trustedVerificationHosts: [...(preset.verificationHosts ?? []), ...(profile.trustedVerificationHosts ?? []), ...(policy?.trustedVerificationHosts ?? [])],
  };
}

/**
 * Scopes as a space-separated set, `openid` first where identity comes from
 * a verified ID token: there an OpenID Connect request is never optional.
 * A provider without OpenID Connect (GitHub) gets the scopes as they are.
 */
export function normalizeScope(scope: string, openid = true): string {
  const scopes = new Set(scope.split(/\s+/).filter(Boolean));
  if (!openid) return [...scopes].join(' ');
  scopes.delete('openid');
  return ['openid', ...scopes].join(' ');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
