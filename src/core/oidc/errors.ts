import { ClientError, ResponseBodyError, WWWAuthenticateChallengeError } from 'openid-client';
import { describeThrown, DevloginError, EXIT, isAbortError, providerError } from '../../errors.js';
import { printable } from '../text.js';

/** Which request failed, for messages. */
export type OidcStep =
  | 'discovery' | 'device authorization' | 'token' | 'refresh' | 'revocation' | 'introspection' | 'userinfo' | 'api';

/** An OAuth error response (RFC 6749 §5.2): its `error` code, or undefined. */
export function oauthErrorCode(err: unknown): string | undefined {
  return err instanceof ResponseBodyError ? err.error : undefined;
}

/** HTTP status of a failed response, when there was one. */
export function httpStatus(err: unknown): number | undefined {
  if (err instanceof ResponseBodyError) return err.status;
  if (err instanceof WWWAuthenticateChallengeError) return err.status;
  if (err instanceof ClientError && err.cause instanceof Response) return err.cause.status;
  return undefined;
}

/**
 * A failure worth retrying: no answer (connection refused or reset, timeout)
 * or a 5xx / 429 from the provider.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof DevloginError) return err.code === 'network' || err.code === 'timeout';
  const status = httpStatus(err);
  if (status !== undefined) return status >= 500 || status === 429;
  if (err instanceof ClientError && err.code === 'OAUTH_TIMEOUT') return true;
  return isNetworkError(err);
}

function isNetworkError(err: unknown): boolean {
  return err instanceof TypeError && /fetch failed|terminated|network/i.test(err.message);
}

const CERT_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/;

function networkDetail(err: unknown): { text: string; certificate: boolean } {
  let cause: unknown = err;
  for (let depth = 0; depth < 5 && cause instanceof Error; depth += 1) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && !code.startsWith('OAUTH_') && code !== 'UND_ERR_SOCKET') {
      return { text: `${printable(cause.message, 120)} (${code})`, certificate: CERT_CODES.test(code) };
    }
    cause = cause.cause;
  }
  return { text: err instanceof Error ? printable(err.message, 120) : 'network error', certificate: false };
}

/**
 * Translates anything openid-client, oauth4webapi or fetch threw into one
 * DevloginError with exit 7 (provider or network error).
 */
export function translateOidcError(err: unknown, step: OidcStep, issuer: string): DevloginError {
  if (err instanceof DevloginError) return err;
  // Our own fetch's refusals (an oversized body) come back wrapped by openid-client.
  for (let cause = (err as { cause?: unknown })?.cause, depth = 0; cause && depth < 4; cause = (cause as { cause?: unknown }).cause, depth += 1) {
    if (cause instanceof DevloginError) return cause;
  }
  const at = `at the ${step} endpoint of ${issuer}`;

  if (err instanceof ResponseBodyError) {
    const description = err.error_description ? `: ${printable(err.error_description, 200)}` : '';
    return providerError(`The provider refused the ${step} request (${printable(err.error, 60)}${description}).`, {
      code: err.error,
      cause: err,
    });
  }
  if (err instanceof WWWAuthenticateChallengeError) {
    const challenge = err.cause[0];
    const code = challenge?.parameters.error ?? `http_${err.status}`;
    return providerError(`The provider rejected the token ${at} (HTTP ${err.status}, ${printable(code, 60)}).`, { code, cause: err });
  }
  if (err instanceof ClientError) {
    switch (err.code) {
      case 'OAUTH_RESPONSE_IS_NOT_CONFORM': {
        const status = httpStatus(err);
        return providerError(`The provider answered HTTP ${status ?? '?'} ${at}.`, {
          code: status !== undefined && status >= 500 ? 'server_error' : 'bad_status',
          hint: status !== undefined && status >= 500 ? 'The provider is having trouble; try again in a moment.' : undefined,
          cause: err,
        });
      }
      case 'OAUTH_TIMEOUT':
        return providerError(`The provider did not answer in time ${at}.`, { code: 'timeout', hint: 'Check your network or proxy settings (HTTPS_PROXY), then try again.', cause: err });
      case 'OAUTH_ABORT':
        return new DevloginError(EXIT.interrupted, 'Interrupted; nothing was stored.', { cause: err });
      case 'OAUTH_RESPONSE_IS_NOT_JSON':
      case 'OAUTH_PARSE_ERROR':
      case 'OAUTH_INVALID_RESPONSE':
        if (isIdTokenFailure(err)) return idTokenError(err, issuer);
        return providerError(`The provider sent a malformed response ${at}: ${printable(err.message, 120)}.`, { code: 'malformed_response', cause: err });
      case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
      case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
      case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
      case 'OAUTH_KEY_SELECTION_FAILED':
        return idTokenError(err, issuer);
      case 'OAUTH_HTTP_REQUEST_FORBIDDEN':
      case 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN':
        return new DevloginError(EXIT.usage, `The provider pointed devlogin to a non-HTTPS endpoint ${at}; refused.`, { code: 'insecure_endpoint', cause: err });
      default:
        return providerError(`The provider's response ${at} could not be used: ${printable(err.message, 120)}.`, { code: err.code ?? 'provider_error', cause: err });
    }
  }
  if (isAbortError(err)) return new DevloginError(EXIT.interrupted, 'Interrupted; nothing was stored.', { cause: err });
  if (isNetworkError(err)) {
    const detail = networkDetail(err);
    return providerError(`Could not reach the provider ${at}: ${detail.text}.`, {
      code: detail.certificate ? 'certificate' : 'network',
      hint: detail.certificate
        ? 'The TLS certificate could not be verified. If your organisation uses a private CA, point NODE_EXTRA_CA_CERTS to its certificate.'
        : 'Check the issuer URL, your network and proxy settings (HTTPS_PROXY, NO_PROXY).',
      cause: err,
    });
  }
  return providerError(`The ${step} request to ${issuer} failed: ${printable(describeThrown(err), 120)}.`, { code: 'provider_error', cause: err });
}

/** The JWT checks (signature, alg, claims) raise OAUTH_INVALID_RESPONSE with a JWT-specific cause. */
function isIdTokenFailure(err: ClientError): boolean {
  return err.cause instanceof Error && /JWT|ID Token|id_token/i.test(err.cause.message);
}

function idTokenError(err: ClientError, issuer: string): DevloginError {
  const detail = err.cause instanceof Error && err.cause.message !== err.message ? err.cause.message : err.message;
  return providerError(`The ID token from ${issuer} failed verification: ${printable(detail, 160)}.`, {
    code: 'invalid_id_token',
    hint: 'Nothing was stored. Check the issuer and client id; if they are right, the provider or the network is not to be trusted.',
    cause: err,
  });
}
