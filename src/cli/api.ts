import { readFile } from 'node:fs/promises';
import { hostnameOf, readApiHosts, siteOf, tokenHostRule } from '../core/hosts.js';
import { isSecureUrl } from '../core/oidc/issuer-url.js';
import { printable } from '../core/text.js';
import type { Deps } from '../deps.js';
import { DevloginError, EXIT, usageError } from '../errors.js';
import { handOutToken } from '../core/session/hand-out.js';
import { parseMinTtlFlag, parseNarrowing, type HandOutRequest } from './token-flags.js';

export interface ApiOptions extends HandOutRequest {
  url: URL;
  method: string;
  headers: [string, string][];
  /** The body, or a source to read it from. */
  data: { text: string } | { file: string } | { stdin: true } | undefined;
  /** --allow-host: a host name that may get the token although no rule lets it. */
  allowHost: string | undefined;
}

const FORBIDDEN_HEADERS = new Set(['authorization', 'dpop', 'host']);

export function parseApiOptions(profile: string, url: string | undefined, flags: Record<string, unknown>): ApiOptions {
  if (!url) throw usageError('api needs a URL.', 'Use: devlogin api [-X METHOD] [-H "K: V"] [-d DATA|@file] URL');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`"${printable(url, 100)}" is not a URL.`);
  }
  // The token goes with the request: never over plain HTTP, except to this machine.
  if (!isSecureUrl(parsed)) throw usageError(`Refusing to send the session's token to ${printable(parsed.origin, 100)}: not HTTPS.`);
  const headers = ((flags.header as string[] | undefined) ?? []).map((header): [string, string] => {
    const index = header.indexOf(':');
    // RFC 9110 §5.5: no CR, LF or NUL in a field; a name is a token (RFC 9110 §5.1).
    if (index <= 0 || /[\r\n\0]/.test(header) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(header.slice(0, index).trim())) {
      throw usageError(`Invalid header "${printable(header, 60)}".`, 'Use -H "Name: value", on one line.');
    }
    const name = header.slice(0, index).trim();
    if (FORBIDDEN_HEADERS.has(name.toLowerCase())) throw usageError(`The ${name} header is set by devlogin.`);
    return [name, header.slice(index + 1).trim()];
  });
  const raw = typeof flags.data === 'string' ? flags.data : undefined;
  const data = raw === undefined ? undefined : raw === '@-' ? { stdin: true as const } : raw.startsWith('@') ? { file: raw.slice(1) } : { text: raw };
  const method = typeof flags.method === 'string' ? flags.method.toUpperCase() : data ? 'POST' : 'GET';
  if (!/^[A-Z]{1,16}$/.test(method)) throw usageError(`Invalid method "${printable(method, 20)}".`);
  const allowHost = typeof flags.allowHost === 'string' ? hostnameOf(flags.allowHost) : undefined;
  if (typeof flags.allowHost === 'string' && allowHost === undefined) throw usageError(`--allow-host "${printable(flags.allowHost, 60)}" is not a host name.`);
  return { profile, url: parsed, method, headers, data, minTtlSeconds: parseMinTtlFlag(flags.minTtl), ...parseNarrowing(flags), allowHost };
}

/**
 * An authenticated request with the session's access token, with a DPoP
 * proof when the session is bound (RFC 9449 §7): the body goes to stdout;
 * exit 0 for 2xx, 7 otherwise. Redirects are not followed, so the token
 * never travels to a host that was not named.
 */
export async function runApi(options: ApiOptions, deps: Deps): Promise<void> {
  const body = await readBody(options.data, deps.readStdin);
  const oidc = await import('../core/oidc/tokens.js');
  const apiHosts = await readApiHosts(deps, options.profile);
  const token = await handOutToken(options.profile, deps, {
    minTtlSeconds: options.minTtlSeconds,
    scopes: options.scopes,
    resource: options.resource,
    bearer: false,
    details: { command: 'api' },
    // Before any request, the refresh included: the token goes only where the host rule lets it.
    check: (record) => checkHost(options, record.issuer, apiHosts),
  });
  // API responses may be large: this request has no body limit (the provider's have).
  const config = oidc.providerConfig(token.record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds, unlimitedBodies: true });
  const dpop = token.record.dpop ? await oidc.dpopHandle(config, token.record.dpop) : undefined;
  const headers = new Headers(options.headers);
  if (body && !headers.has('content-type')) headers.set('content-type', looksLikeJson(body) ? 'application/json' : 'application/octet-stream');
  const response = await oidc.callApi(config, { ...token.record, accessToken: token.accessToken }, { url: options.url, method: options.method, body, headers, dpop });
  const payload = Buffer.from(await response.arrayBuffer());
  deps.io.stdout.write(payload.toString('utf8'));
  if (response.status < 200 || response.status > 299) {
    throw new DevloginError(EXIT.provider, `HTTP ${response.status} from ${options.method} ${options.url.origin}${options.url.pathname}.`, { code: `http_${response.status}` });
  }
}

/** DESIGN.md "Commands": the issuer's site, apiHosts, or --allow-host naming this very host; else exit 2. */
function checkHost(options: ApiOptions, issuer: string, apiHosts: readonly string[]): { host: string; hostRule: string } {
  const host = options.url.hostname.toLowerCase();
  const rule = tokenHostRule(options.url.host, issuer, apiHosts);
  if (rule) return { host, hostRule: rule };
  if (options.allowHost === host) return { host, hostRule: 'allow_host' };
  throw usageError(
    `Refusing to send the session's token to ${host}: it is not on the issuer's site (${siteOf(new URL(issuer).hostname)}) nor in apiHosts.`,
    `Pass --allow-host ${host} to send it there anyway (recorded in the audit log), or list the host in "apiHosts".`,
  );
}

async function readBody(data: ApiOptions['data'], readStdin: () => Promise<Buffer>): Promise<Buffer | undefined> {
  if (!data) return undefined;
  if ('text' in data) return Buffer.from(data.text, 'utf8');
  if ('stdin' in data) return readStdin();
  try {
    return await readFile(data.file);
  } catch (err) {
    throw usageError(`Cannot read ${printable(data.file, 100)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}.`);
  }
}

function looksLikeJson(body: Buffer): boolean {
  try {
    JSON.parse(body.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}
