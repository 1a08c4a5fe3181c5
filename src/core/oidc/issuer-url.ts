import { usageError } from '../../errors.js';
import { printable } from '../text.js';

/** 127.0.0.0/8, ::1 and localhost: the only places plain HTTP is accepted. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** True for https:, or http: on a loopback host. */
export function isSecureUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

/**
 * Parses the issuer and refuses anything but HTTPS (loopback aside): tokens
 * and codes must never cross a network in the clear. Exit 2.
 */
export function parseIssuer(issuer: string): URL {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw usageError(`The issuer "${printable(issuer, 100)}" is not a URL.`, 'Pass the full issuer URL, e.g. --issuer https://login.example.com');
  }
  if (!isSecureUrl(url)) {
    throw usageError(`The issuer ${printable(url.href, 100)} does not use HTTPS.`, 'Only https:// issuers are accepted (plain http:// only on 127.0.0.1, ::1 or localhost).');
  }
  if (url.username || url.password) throw usageError('The issuer URL must not contain a user name or password.');
  return url;
}
