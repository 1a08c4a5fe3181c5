import { parseDuration } from '../core/duration.js';
import { handOutToken } from '../core/session/hand-out.js';
import { toIso } from '../core/session/record.js';
import { resolveMinTtl } from '../core/settings.js';
import type { Deps } from '../deps.js';
import { writeJsonLine } from './output.js';

export interface TokenOptions {
  profile: string;
  minTtlSeconds: number;
  json: boolean;
}

/** --min-ttl, parsed where it is read: the error names the flag. */
export function parseMinTtlFlag(value: unknown): number {
  return resolveMinTtl(typeof value === 'string' ? parseDuration(value, '--min-ttl', { allowZero: true }) : undefined);
}

export function parseTokenOptions(profile: string, flags: Record<string, unknown>): TokenOptions {
  return { profile, minTtlSeconds: parseMinTtlFlag(flags.minTtl), json: flags.json === true };
}

/**
 * Prints a valid access token on stdout (the one place a token is printed),
 * refreshing first when it expires within --min-ttl. With --json: token,
 * type and expiry.
 */
export async function runToken(options: TokenOptions, deps: Deps): Promise<void> {
  const record = await handOutToken(options.profile, deps, { minTtlSeconds: options.minTtlSeconds });
  if (!options.json) {
    deps.io.stdout.write(`${record.accessToken}\n`);
    return;
  }
  writeJsonLine(deps.io, {
    access_token: record.accessToken,
    token_type: record.tokenType,
    expires_at: record.accessTokenExpiresAt === null ? null : toIso(record.accessTokenExpiresAt),
  });
}

