import { isListedHost, siteOf } from '../hosts.js';

/**
 * Device-code phishing often sends people to a look-alike page. When the
 * verification page is not on the issuer's site (same registrable domain,
 * from the Public Suffix List via tldts) nor on a host the profile or policy
 * trusts, this returns a warning to show next to the code.
 */
export function verificationHostWarning(verificationUri: string, issuer: string, trusted: readonly string[]): string | undefined {
  const host = new URL(verificationUri).hostname.toLowerCase();
  const issuerHost = new URL(issuer).hostname.toLowerCase();
  if (siteOf(host) === siteOf(issuerHost)) return undefined;
  if (isListedHost(host, trusted)) return undefined;
  return `The sign-in page is on ${host}, not on the issuer's site (${siteOf(issuerHost)}). Enter the code only if you expected this page; if in doubt, press Ctrl-C.`;
}
