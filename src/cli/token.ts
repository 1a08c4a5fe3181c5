import { handOutToken } from '../core/session/hand-out.js';
import { toIso } from '../core/session/record.js';
import type { Deps } from '../deps.js';
import { writeJsonLine } from './output.js';
import { parseMinTtlFlag, parseNarrowing, type HandOutRequest } from './token-flags.js';

export interface TokenOptions extends HandOutRequest {
  json: boolean;
}

export function parseTokenOptions(profile: string, flags: Record<string, unknown>): TokenOptions {
  return { profile, minTtlSeconds: parseMinTtlFlag(flags.minTtl), ...parseNarrowing(flags), json: flags.json === true };
}

/**
 * Prints a valid access token on stdout (the one place a token is printed),
 * refreshing first when it expires within --min-ttl, or one narrowed to
 * --scope. With --json: token, type, expiry and scope.
 */
export async function runToken(options: TokenOptions, deps: Deps): Promise<void> {
  const token = await handOutToken(options.profile, deps, { minTtlSeconds: options.minTtlSeconds, scopes: options.scopes, resource: options.resource });
  if (!options.json) {
    deps.io.stdout.write(`${token.accessToken}\n`);
    return;
  }
  writeJsonLine(deps.io, {
    access_token: token.accessToken,
    token_type: token.tokenType,
    expires_at: token.expiresAt === null ? null : toIso(token.expiresAt),
    scope: token.scope,
  });
}
