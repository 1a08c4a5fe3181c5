import { assertBearer, audit, ensureFresh, withSession } from '../core/active-session.js';
import { toIso } from '../core/session.js';
import { writeJsonLine, type CommandContext } from './context.js';
import { parseMinTtl, sessionDeps } from './session-deps.js';

export interface TokenOptions {
  minTtlSeconds: number;
  json: boolean;
}

export function parseTokenOptions(flags: Record<string, unknown>): TokenOptions {
  return { minTtlSeconds: parseMinTtl(flags.minTtl), json: flags.json === true };
}

/** Prints a valid access token on stdout (the one place a token is printed), refreshing first if needed. */
export async function runToken(options: TokenOptions, ctx: CommandContext): Promise<void> {
  const deps = sessionDeps(ctx);
  const { record } = await withSession(ctx.profile, deps, async (loaded) => {
    assertBearer(loaded.record);
    const fresh = await ensureFresh(loaded, options.minTtlSeconds, deps);
    await audit(deps, 'token_read', fresh.record);
    return fresh;
  });
  if (options.json) {
    writeJsonLine(ctx.io, {
      access_token: record.accessToken,
      token_type: record.tokenType,
      expires_at: record.accessTokenExpiresAt === null ? null : toIso(record.accessTokenExpiresAt),
    });
  } else {
    ctx.io.stdout.write(`${record.accessToken}\n`);
  }
}
