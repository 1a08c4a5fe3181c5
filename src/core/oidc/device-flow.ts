import * as client from 'openid-client';
import { DevloginError, EXIT, interruptedError, providerError } from '../../errors.js';
import { printable, stripControl } from '../text.js';
import { isSecureUrl } from './issuer-url.js';
import { httpStatus, isTransient, oauthErrorCode, translateOidcError } from './errors.js';

/** What the user needs to approve the sign-in; every string already stripped of control characters. */
export interface DeviceAuthorization {
  /** Secret between devlogin and the provider: never printed. */
  deviceCode: string;
  userCode: string;
  verificationUri: string;
  verificationUriComplete: string | undefined;
  /** Epoch milliseconds. */
  expiresAt: number;
  /** Seconds between polls as the provider asked (RFC 8628 §3.2: 5 when absent). */
  intervalSeconds: number;
  /** Set when the verification page is not where the user would expect it. */
  warning?: string;
}

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const DEFAULT_INTERVAL_SECONDS = 5;
const MAX_BACKOFF_SECONDS = 60;
const MIN_INTERVAL_SECONDS = 1;

export interface DeviceAuthorizationRequest {
  scope: string;
  audience?: string | undefined;
  issuer: string;
  now: () => number;
}

/** RFC 8628 §3.1–3.2: asks for a device code and a user code. */
export async function requestDeviceAuthorization(
  config: client.Configuration,
  { scope, audience, issuer, now }: DeviceAuthorizationRequest,
): Promise<DeviceAuthorization> {
  if (!config.serverMetadata().device_authorization_endpoint) {
    throw providerError(`The provider ${issuer} does not offer the device authorization grant (no device_authorization_endpoint).`, { code: 'unsupported_grant' });
  }
  const parameters: Record<string, string> = { scope };
  if (audience) parameters.audience = audience;
  let response: client.DeviceAuthorizationResponse;
  try {
    response = await client.initiateDeviceAuthorization(config, parameters);
  } catch (err) {
    throw translateOidcError(err, 'device authorization', issuer);
  }
  const userCode = stripControl(response.user_code).trim();
  if (!userCode) throw providerError('The provider sent an empty user code.', { code: 'malformed_response' });
  const verificationUri = safeVerificationUrl(response.verification_uri, 'verification_uri');
  if (!verificationUri) {
    throw providerError(`The provider's verification_uri (${printable(response.verification_uri, 100)}) is not a usable URL.`, { code: 'malformed_response' });
  }
  return {
    deviceCode: response.device_code,
    userCode,
    verificationUri,
    // A broken complete URI is dropped, not fatal: the plain URI and the code still work.
    verificationUriComplete: response.verification_uri_complete === undefined
      ? undefined
      : safeVerificationUrl(response.verification_uri_complete, 'verification_uri_complete') ?? undefined,
    // RFC 8628 §3.2 expires_in: a code that claims to live longer than an hour (or 1e300 s) is taken at an hour.
    expiresAt: now() + Math.min(Number.isFinite(response.expires_in) && response.expires_in > 0 ? response.expires_in : 0, 3600) * 1000,
    intervalSeconds: pollInterval(response.interval),
  };
}

/**
 * RFC 8628 §3.2: 5 s when absent. Never under 1 s, whatever the provider
 * says (AWS sends 1, some send 0: PROVIDERS.md §4.3), nor over the back-off cap.
 */
export function pollInterval(interval: unknown): number {
  if (typeof interval !== 'number' || !Number.isFinite(interval)) return DEFAULT_INTERVAL_SECONDS;
  return Math.min(Math.max(interval, MIN_INTERVAL_SECONDS), MAX_BACKOFF_SECONDS);
}

/**
 * What is added to every wait so that no poll is early by the provider's
 * clock: GitHub answers slow_down to a poll a few milliseconds early
 * [GH10], Keycloak to any poll inside the interval [KC1]. cli/oauth waits
 * 1.2 × the interval for the same reason [CO1]; 10 % (at least 250 ms) is enough.
 */
export function pollMargin(intervalSeconds: number): number {
  return Math.max(250, Math.round(intervalSeconds * 100));
}

/**
 * Control characters are removed before parsing; the URL parser then
 * percent-encodes whatever else could disturb a terminal. Only HTTPS (or
 * loopback HTTP) is accepted: the user types their credentials there.
 */
function safeVerificationUrl(value: string, field: string): string | null {
  let url: URL;
  try {
    url = new URL(stripControl(value).trim());
  } catch {
    return null;
  }
  if (!isSecureUrl(url)) {
    throw providerError(`The provider's ${field} (${printable(url.href, 100)}) does not use HTTPS; refused.`, {
      code: 'insecure_verification_uri',
      hint: 'A sign-in page over plain HTTP could be read or changed by anyone on the network.',
    });
  }
  return url.href;
}

export type PollNotice =
  | { kind: 'slow_down'; intervalSeconds: number }
  | { kind: 'retry'; reason: string; waitSeconds: number };

export interface PollOptions {
  issuer: string;
  signal: AbortSignal;
  now: () => number;
  /** Waits `ms`, rejecting at once when `signal` aborts. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  dpop?: client.DPoPHandle | undefined;
  onNotice?: (notice: PollNotice) => void;
}

export type TokenResponse = Awaited<ReturnType<typeof client.genericGrantRequest>>;

/**
 * Polls the token endpoint until the user approves, denies, or the code
 * expires (RFC 8628 §3.4–3.5). Each poll is one openid-client grant request;
 * the loop is ours so that slow_down, back-off and the deadline follow the RFC
 * and survive 5xx answers (openid-client's own poller stops at the first 5xx).
 */
export async function pollForTokens(
  config: client.Configuration,
  authorization: DeviceAuthorization,
  options: PollOptions,
): Promise<TokenResponse> {
  const { signal, now, sleep, issuer } = options;
  let interval = authorization.intervalSeconds;
  let waitSeconds = interval;
  let failures = 0;
  // The last poll's failure when it was transient: a code that expires while
  // the provider cannot be reached is a provider error (exit 7), not a sign-in
  // the user failed to complete (exit 5).
  let unreachable: unknown;
  const expired = (): DevloginError => (unreachable === undefined ? codeExpired() : providerGaveNoAnswer(unreachable, issuer));

  for (;;) {
    const remaining = authorization.expiresAt - now();
    if (remaining <= 0) throw expired();
    await sleepOrInterrupt(sleep, Math.min(waitSeconds * 1000 + pollMargin(interval), remaining), signal);
    if (now() >= authorization.expiresAt) throw expired();
    try {
      return await client.genericGrantRequest(config, DEVICE_CODE_GRANT, { device_code: authorization.deviceCode }, { DPoP: options.dpop });
    } catch (err) {
      if (signal.aborted) throw interruptedError();
      // PROVIDERS.md §4.5: the outcome is the `error` field, whatever the HTTP
      // status (GitHub 200, Google 428/403, Auth0 403/429, Dex 401, others 400).
      const code = oauthErrorCode(err);
      unreachable = undefined;
      if (code === 'authorization_pending') {
        failures = 0;
        waitSeconds = interval;
        continue;
      }
      if (code === 'slow_down') {
        // RFC 8628 §3.5: slow_down adds 5 s to the interval for this and all
        // later polls; GitHub sends the interval it wants instead [GH1]: take the larger.
        failures = 0;
        interval = Math.min(Math.max(interval + 5, serverInterval(err) ?? 0), MAX_BACKOFF_SECONDS);
        waitSeconds = interval;
        options.onNotice?.({ kind: 'slow_down', intervalSeconds: interval });
        continue;
      }
      // Entra says authorization_declined [MS1].
      if (code === 'access_denied' || code === 'authorization_declined') {
        throw new DevloginError(EXIT.signInNotCompleted, 'The sign-in was denied.', { code: 'access_denied', hint: 'Run devlogin login again if that was a mistake.' });
      }
      // GitHub's documentation also spells it token_expired [GH1].
      if (code === 'expired_token' || code === 'token_expired') throw codeExpired();
      // Auth0 answers expired_token once, then invalid_grant for the same code
      // [A02]: at the end of the code's life (a poll that lost the one answer), that is expiry too.
      if (code === 'invalid_grant' && now() >= authorization.expiresAt - (interval * 1000 + pollMargin(interval))) throw codeExpired();
      if (code === undefined && isTransient(err)) {
        // RFC 8628 §3.5: on a timeout (and here on 5xx too) reduce the polling
        // frequency; doubling the interval on each failure is the RECOMMENDED back-off.
        failures += 1;
        unreachable = err;
        waitSeconds = Math.max(Math.min(interval * 2 ** failures, MAX_BACKOFF_SECONDS), retryAfterSeconds(err) ?? 0);
        options.onNotice?.({ kind: 'retry', reason: describeTransient(err), waitSeconds });
        continue;
      }
      const failure = translateOidcError(err, 'token', issuer);
      // An Okta app with "Require DPoP" refuses a proofless poll [OK2]; devlogin never binds unasked.
      if ((code === 'invalid_dpop_proof' || code === 'use_dpop_nonce') && !options.dpop) {
        throw new DevloginError(failure.exitCode, failure.message, { code, hint: 'This client requires DPoP-bound tokens: sign in with --dpop.', cause: err });
      }
      throw failure;
    }
  }
}

/** The `interval` a slow_down answer carries (GitHub), if any. */
function serverInterval(err: unknown): number | undefined {
  const body = err instanceof client.ResponseBodyError ? (err.cause as Record<string, unknown>) : undefined;
  return typeof body?.interval === 'number' && body.interval > 0 ? body.interval : undefined;
}

function providerGaveNoAnswer(err: unknown, issuer: string): DevloginError {
  const cause = translateOidcError(err, 'token', issuer);
  return new DevloginError(EXIT.provider, `The code expired while the provider kept failing: ${cause.message}`, {
    code: cause.code,
    hint: 'Nothing was stored. Try again when the provider is back.',
    cause: err,
  });
}

function codeExpired(): DevloginError {
  return new DevloginError(EXIT.signInNotCompleted, 'The code expired before the sign-in was completed.', {
    code: 'expired_token',
    hint: 'Run devlogin login again and approve within the time shown.',
  });
}

async function sleepOrInterrupt(sleep: PollOptions['sleep'], ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw interruptedError();
  try {
    await sleep(ms, signal);
  } catch (err) {
    if (signal.aborted) throw interruptedError();
    throw err;
  }
}

function retryAfterSeconds(err: unknown): number | undefined {
  const response = err instanceof client.ClientError && err.cause instanceof Response ? err.cause
    : err instanceof client.ResponseBodyError ? err.response : undefined;
  const header = response?.headers.get('retry-after')?.trim();
  if (!header) return undefined;
  const seconds = /^\d+$/.test(header) ? Number(header) : (Date.parse(header) - Date.now()) / 1000;
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, MAX_BACKOFF_SECONDS) : undefined;
}

function describeTransient(err: unknown): string {
  const status = httpStatus(err);
  return status !== undefined ? `HTTP ${status}` : 'no answer from the provider';
}
