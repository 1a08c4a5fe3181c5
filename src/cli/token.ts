import { assertBearer, ensureFresh, withSession } from '../core/active-session.js';
import { audit } from '../core/audit.js';
import { parseMinTtl, type CommandContext } from './context.js';
import { sessionDeps } from './session-deps.js';
import { writeToken } from './session-output.js';

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
  writeToken(ctx.io, record, options.json);
}
