import type { CustomFetch } from 'openid-client';
import { providerError } from '../errors.js';
import { isLoopbackHost } from './oidc/issuer-url.js';

export interface HttpOptions {
  /** Aborts every request in flight (Ctrl-C). */
  signal?: AbortSignal;
  /** For HTTPS_PROXY, HTTP_PROXY and NO_PROXY (either case). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Receives one line per exchange for --verbose; never a header or body. */
  log?: (line: string) => void;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** Discovery documents, JWKS and token responses are a few kilobytes; 1 MiB is plenty. */
export const MAX_PROVIDER_BODY_BYTES = 1024 * 1024;

/**
 * The fetch every request goes through (main.ts puts it in Deps): it ties
 * requests to the process-wide abort signal, honours the proxy variables,
 * and logs method, URL (without its query), status and timing for --verbose.
 */
export function createHttpFetch(options: HttpOptions = {}): CustomFetch {
  const proxy = proxySettings(options.env ?? {});
  let base: Promise<typeof fetch> | undefined;
  const direct = options.fetch ?? fetch;
  // Loopback is this machine: a request to it never goes through a proxy,
  // where a plain-HTTP one (allowed to loopback only) would travel in clear.
  const baseFetch = (url: string): Promise<typeof fetch> =>
    !proxy || isLoopbackUrl(url) ? Promise.resolve(direct) : (base ??= options.fetch ? Promise.resolve(options.fetch) : proxiedFetch(proxy));
  return async (url, init) => {
    const signal = combineSignals(init.signal, options.signal);
    const started = performance.now();
    const shown = describeUrl(url);
    try {
      const response = await (await baseFetch(url))(url, { ...init, ...(signal ? { signal } : {}) });
      options.log?.(`${init.method} ${shown} → ${response.status} (${Math.round(performance.now() - started)} ms)`);
      return response;
    } catch (err) {
      options.log?.(`${init.method} ${shown} → failed: ${err instanceof Error ? err.name : 'error'} (${Math.round(performance.now() - started)} ms)`);
      throw err;
    }
  };
}

/** The same fetch, refusing response bodies over `max` bytes: a hostile provider must not exhaust memory. */
export function limitBodies(inner: CustomFetch, max = MAX_PROVIDER_BODY_BYTES): CustomFetch {
  return async (url, init) => limitBody(await inner(url, init), max, describeUrl(url));
}

/** Reads the body up to `max` bytes and hands it on as a new Response; more is a provider error. */
async function limitBody(response: Response, max: number, shown: string): Promise<Response> {
  const tooLarge = () => providerError(`The provider sent more than ${Math.round(max / 1024)} KiB from ${shown}; refused.`, { code: 'response_too_large' });
  if (Number(response.headers.get('content-length') ?? 0) > max) {
    await response.body?.cancel();
    throw tooLarge();
  }
  if (!response.body) return response;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  const nullBody = [101, 204, 205, 304].includes(response.status);
  return new Response(nullBody ? null : Buffer.concat(chunks), { status: response.status, statusText: response.statusText, headers: response.headers });
}

function combineSignals(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  if (!a) return b;
  if (!b) return a;
  return AbortSignal.any([a, b]);
}

function isLoopbackUrl(url: string): boolean {
  try {
    return isLoopbackHost(new URL(url).hostname);
  } catch {
    return false;
  }
}

/** Origin and path only: a query string may carry a code or a token. */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}${parsed.search ? '?[redacted]' : ''}`;
  } catch {
    return '[unparseable URL]';
  }
}

interface ProxySettings {
  httpProxy?: string;
  httpsProxy?: string;
  noProxy?: string;
}

/** The proxy variables, as curl and most tools read them (lower case wins when both are set). */
function proxySettings(env: Readonly<Record<string, string | undefined>>): ProxySettings | undefined {
  const pick = (name: string) => env[name.toLowerCase()] || env[name] || undefined;
  const settings: ProxySettings = {};
  const httpProxy = pick('HTTP_PROXY');
  const httpsProxy = pick('HTTPS_PROXY');
  const noProxy = pick('NO_PROXY');
  if (httpProxy) settings.httpProxy = httpProxy;
  if (httpsProxy) settings.httpsProxy = httpsProxy;
  if (noProxy) settings.noProxy = noProxy;
  return httpProxy || httpsProxy ? settings : undefined;
}

/**
 * undici's EnvHttpProxyAgent (HTTP requests through HTTP_PROXY, HTTPS through
 * a CONNECT tunnel to HTTPS_PROXY, NO_PROXY honoured). Loaded only when a
 * proxy is set: the direct path keeps Node's built-in fetch.
 */
async function proxiedFetch(settings: ProxySettings): Promise<typeof fetch> {
  const undici = await import('undici');
  const dispatcher = new undici.EnvHttpProxyAgent(settings);
  return ((url: string, init: RequestInit) => undici.fetch(url, { ...(init as object), dispatcher } as Parameters<typeof undici.fetch>[1])) as unknown as typeof fetch;
}
