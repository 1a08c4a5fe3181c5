import { readFile } from 'node:fs/promises';
import { audit } from '../core/audit.js';
import { hostnameOf, readApiHosts, siteOf, tokenHostRule } from '../core/hosts.js';
import { isSecureUrl } from '../core/oidc/issuer-url.js';
import { withSession } from '../core/session/active.js';
import { ensureFresh } from '../core/session/refresh.js';
import { printable } from '../core/text.js';
import type { Deps } from '../deps.js';
import { DevloginError, EXIT, usageError } from '../errors.js';
import { parseMinTtlFlag } from './token.js';

export interface ApiOptions {
  profile: string;
  url: URL;
  method: string;
  headers: [string, string][];
  /** The body, or a source to read it from. */
  data: { text: string } | { file: string } | { stdin: true } | undefined;
  minTtlSeconds: number;
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
    if (index <= 0) throw usageError(`Invalid header "${printable(header, 60)}".`, 'Use -H "Name: value".');
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
  return { profile, url: parsed, method, headers, data, minTtlSeconds: parseMinTtlFlag(flags.minTtl), allowHost };
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
  const response = await withSession(options.profile, deps, async (loaded) => {
    // Before any request, the refresh included: the token goes only where the host rule lets it.
    const sentTo = checkHost(options, loaded.record.issuer, apiHosts);
    const fresh = await ensureFresh(loaded, options.minTtlSeconds, deps);
    await audit(deps, 'token_read', fresh.record, { command: 'api', ...sentTo });
    // API responses may be large: this request has no body limit (the provider's have).
    const config = oidc.providerConfig(fresh.record, { fetch: deps.fetch, timeoutSeconds: deps.httpTimeoutSeconds, unlimitedBodies: true });
    const dpop = fresh.record.dpop ? await oidc.dpopHandle(config, fresh.record.dpop) : undefined;
    const headers = new Headers(options.headers);
    if (body && !headers.has('content-type')) headers.set('content-type', looksLikeJson(body) ? 'application/json' : 'application/octet-stream');
    return oidc.callApi(config, fresh.record, { url: options.url, method: options.method, body, headers, dpop });
  });
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
