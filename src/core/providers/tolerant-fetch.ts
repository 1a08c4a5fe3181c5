import type { CustomFetch } from 'openid-client';

/** Fields that some providers send as numeric strings (Entra's v1 endpoint [MS6]). */
const NUMERIC_FIELDS = ['expires_in', 'interval', 'refresh_expires_in', 'refresh_token_expires_in', 'ext_expires_in'];

export interface TolerantFetchOptions {
  /**
   * Receives an ID token taken out of a token response, for providers whose
   * `iss` openid-client cannot check (Google's two forms, Entra's {tenantid}):
   * login verifies it itself (providers/issuer.ts).
   */
  takeIdToken?: (idToken: string) => void;
}

/**
 * The provider's answers made standard before openid-client reads them
 * (PROVIDERS.md §4.2–4.5): `Accept: application/json` on every request; a
 * JSON or form body, by content type and then by sniffing (GitHub answers
 * form-encoded [GH1], old Dex sends JSON as text/plain [DX1]), handed on as
 * JSON; Google's `verification_url` aliases; numbers sent as strings; Google's
 * `error_code` read as `error` [GO1]; and an `error` in a 2xx body (GitHub
 * answers pending with 200 [GH2]) turned into a 400, so that the outcome is
 * always read from `error`, whatever the status. Bodies that are neither JSON
 * nor a form pass through untouched.
 */
export function tolerantFetch(inner: CustomFetch, options: TolerantFetchOptions = {}): CustomFetch {
  return async (url, init) => {
    const headers = { ...init.headers };
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'accept')) headers.accept = 'application/json';
    const response = await inner(url, { ...init, headers });
    if (!response.body || [101, 204, 205, 304].includes(response.status) || (response.status >= 300 && response.status < 400)) return response;
    const text = await response.text();
    const parsed = parseBody(text, response.headers.get('content-type'));
    const rebuilt = (body: string, status: number, json: boolean): Response => {
      const out = new Headers(response.headers);
      out.delete('content-length');
      out.delete('content-encoding');
      if (json) out.set('content-type', 'application/json');
      return new Response(body, { status, statusText: status === response.status ? response.statusText : '', headers: out });
    };
    if (!parsed) return rebuilt(text, response.status, false);
    normalizeFields(parsed);
    let status = response.status;
    // PROVIDERS.md §4.9: a 2xx body with both `error` and `access_token`: trust `error`.
    if (status >= 200 && status < 300 && typeof parsed.error === 'string' && parsed.error !== '') status = 400;
    if (options.takeIdToken && typeof parsed.id_token === 'string' && typeof parsed.access_token === 'string') {
      options.takeIdToken(parsed.id_token);
      delete parsed.id_token;
    }
    return rebuilt(JSON.stringify(parsed), status, true);
  };
}

/** A JSON object or a form body as an object; undefined for anything else. */
export function parseBody(text: string, contentType: string | null): Record<string, unknown> | undefined {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const trimmed = text.trim();
  const asJson = (): Record<string, unknown> | undefined => {
    try {
      const value: unknown = JSON.parse(trimmed);
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  };
  const asForm = (): Record<string, unknown> => Object.fromEntries(new URLSearchParams(trimmed));
  if (type === 'application/json' || type.endsWith('+json')) return asJson();
  if (type === 'application/x-www-form-urlencoded') return asForm();
  if (trimmed.startsWith('{')) return asJson();
  // name=value&name=value with nothing a form encoder would not produce.
  if (/^[\w.~%+-]+=[\w.~%+*-]*(&[\w.~%+-]+=[\w.~%+*-]*)*$/.test(trimmed)) return asForm();
  return undefined;
}

function normalizeFields(body: Record<string, unknown>): void {
  // RFC 8628 §3.2 names; Google and Entra v1 send verification_url [GO1][MS6].
  if (body.verification_uri === undefined && typeof body.verification_url === 'string') body.verification_uri = body.verification_url;
  if (body.verification_uri_complete === undefined && typeof body.verification_url_complete === 'string') {
    body.verification_uri_complete = body.verification_url_complete;
  }
  for (const field of NUMERIC_FIELDS) {
    const value = body[field];
    if (typeof value === 'string' && /^\d{1,9}$/.test(value.trim())) body[field] = Number(value.trim());
    // A form body carries every value as a string; an empty expiry is no expiry.
    else if (value === '') delete body[field];
  }
  // openid-client refuses an interval that is not positive; devlogin polls at most once a second anyway.
  if (typeof body.interval === 'number' && body.interval < 1) body.interval = 1;
  if (body.error === undefined && typeof body.error_code === 'string') body.error = body.error_code;
}
