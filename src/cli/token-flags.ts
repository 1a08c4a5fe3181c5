import { parseDuration } from '../core/duration.js';
import { resolveMinTtl } from '../core/settings.js';
import { printable } from '../core/text.js';
import { usageError } from '../errors.js';

// The flags of the commands that hand a token out (token, exec, api), parsed
// where they are read so that an error names the flag.

/** --min-ttl, parsed where it is read: the error names the flag. */
export function parseMinTtlFlag(value: unknown): number {
  return resolveMinTtl(typeof value === 'string' ? parseDuration(value, '--min-ttl', { allowZero: true }) : undefined);
}

/** --scope and --audience of token, exec and api, parsed where they are read. */
export interface Narrowing {
  /** Fewer scopes than the session's, for this use only. */
  scopes?: string[];
  /** RFC 8707 resource indicator. */
  resource?: string;
}

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

export function parseNarrowing(flags: Record<string, unknown>): Narrowing {
  const narrowing: Narrowing = {};
  if (typeof flags.scope === 'string') {
    const scopes = [...new Set(flags.scope.split(/\s+/).filter(Boolean))];
    if (scopes.length === 0) throw usageError('--scope needs at least one scope.', 'Use --scope "S1 S2", each one granted to the session.');
    const bad = scopes.find((scope) => !SCOPE_TOKEN.test(scope));
    if (bad !== undefined) throw usageError(`Invalid scope "${printable(bad, 40)}" in --scope.`, 'Scopes are printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3).');
    narrowing.scopes = scopes;
  }
  if (typeof flags.audience === 'string') {
    // RFC 8707 §2: an absolute URI without a fragment.
    let url: URL | undefined;
    try {
      url = new URL(flags.audience);
    } catch {
      url = undefined;
    }
    if (!url || url.hash) throw usageError(`Invalid --audience "${printable(flags.audience, 80)}".`, 'Use an absolute URI without a fragment, such as https://api.example.com (RFC 8707 §2).');
    if (!narrowing.scopes) throw usageError('--audience needs --scope: the narrower token is asked for with the session\'s refresh token.', 'Add --scope with the scopes the token is for.');
    narrowing.resource = flags.audience;
  }
  return narrowing;
}

/** What token, exec and api ask for. */
export interface HandOutRequest extends Narrowing {
  profile: string;
  minTtlSeconds: number;
}
