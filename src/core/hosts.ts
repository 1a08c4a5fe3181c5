import { isIP } from 'node:net';
import { getDomain } from 'tldts';
import { readConfig } from './config.js';
import { isLoopbackHost } from './oidc/issuer-url.js';
import type { Paths } from './paths.js';
import { readPolicyFiles } from './policy.js';
import type { Env } from './settings.js';

/**
 * Where the session's token may go (DESIGN.md "Commands", `api` and
 * `git-credential`): the issuer's own site, and the hosts the profile or the
 * policy lists in `apiHosts`. One rule, used by every command that sends the
 * token somewhere on the user's behalf.
 */

/** Why a host may receive the token. */
export type TokenHostRule = 'issuer_site' | 'api_hosts';

/**
 * The registrable domain (example.co.uk) of a host, by the Public Suffix
 * List with its private section (tldts), so that two customers of one
 * platform (a.github.io, b.github.io) are two sites; a host that is itself a
 * public suffix, an IP address or localhost is its own site.
 */
export function siteOf(host: string): string {
  return getDomain(host, { allowPrivateDomains: true }) ?? host.toLowerCase();
}

/** A lower-cased host name without port, from a URL host or git's `host` (which may carry a port, or an IPv6 address in brackets). */
export function hostnameOf(host: string): string | undefined {
  if (host === '' || /[\s/?#@\\]/.test(host)) return undefined;
  try {
    return new URL(`https://${host}`).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/** True when `host` is an entry of the list or below one (api.example.com is below example.com). */
export function isListedHost(host: string, list: readonly string[]): boolean {
  return list.some((entry) => {
    const name = hostnameOf(entry.trim().replace(/^\./, ''));
    return name !== undefined && (host === name || host.endsWith(`.${name}`));
  });
}

/**
 * Whether a host may receive the session's token, and why; undefined: it
 * may not. The issuer's site is its registrable domain, except for an IP
 * address or a loopback name, where only that same host counts (on any
 * port): 127.0.0.1 shares no "site" with anything else, and every
 * *.localhost name is this machine, whoever serves it.
 */
export function tokenHostRule(host: string, issuer: string, apiHosts: readonly string[]): TokenHostRule | undefined {
  const name = hostnameOf(host);
  if (name === undefined) return undefined;
  const issuerHost = new URL(issuer).hostname.toLowerCase();
  const exactOnly = (h: string) => isIP(h.replace(/^\[|\]$/g, '')) !== 0 || isLoopbackHost(h);
  const sameSite = exactOnly(name) || exactOnly(issuerHost) ? name === issuerHost : siteOf(name) === siteOf(issuerHost);
  if (sameSite) return 'issuer_site';
  return isListedHost(name, apiHosts) ? 'api_hosts' : undefined;
}

/**
 * The `apiHosts` of the profile (config.json), of the administrator's policy
 * and of the one DEVLOGIN_POLICY names, together with `extra` (a provider
 * preset's own API hosts). A policy only ever adds hosts here.
 */
export async function readApiHosts(deps: { paths: Paths; env: Env }, profile: string, extra: readonly string[] = []): Promise<string[]> {
  const [config, policies] = await Promise.all([readConfig(deps.paths), readPolicyFiles(deps.env)]);
  return [...(config.profiles[profile]?.apiHosts ?? []), ...policies.flatMap((policy) => policy.apiHosts ?? []), ...extra];
}
