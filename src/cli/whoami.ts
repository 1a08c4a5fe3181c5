import { checkOnline, ensureFresh, withSession } from '../core/active-session.js';
import { DevloginError, EXIT } from '../errors.js';
import { writeJsonLine, type CommandContext } from './context.js';
import { writeWhoami, type WhoamiReport } from './session-output.js';
import { sessionDeps } from './session-deps.js';

export interface WhoamiOptions {
  online: boolean;
  json: boolean;
}

export function parseWhoamiOptions(flags: Record<string, unknown>): WhoamiOptions {
  return { online: flags.online === true, json: flags.json === true };
}

/**
 * Who is signed in. Offline by default, from the claims verified at login;
 * --online asks the provider. Exit 0 signed in, 3 not signed in, 4 ended.
 */
export async function runWhoami(options: WhoamiOptions, ctx: CommandContext): Promise<void> {
  const deps = sessionDeps(ctx);
  let report: WhoamiReport;
  try {
    report = await withSession(ctx.profile, deps, async (loaded) => {
      if (!options.online) return { record: loaded.record, backend: loaded.backend };
      const fresh = await ensureFresh(loaded, 0, deps);
      return { record: fresh.record, backend: fresh.backend, online: await checkOnline(fresh, deps) };
    });
  } catch (err) {
    // Scripts reading --json get an answer on stdout as well as the exit code.
    if (options.json && err instanceof DevloginError && (err.exitCode === EXIT.notSignedIn || err.exitCode === EXIT.sessionEnded)) {
      writeJsonLine(ctx.io, { profile: ctx.profile, signed_in: false, reason: err.code ?? null });
    }
    throw err;
  }
  writeWhoami(ctx.io, report, options.json, Date.now() / 1000);
}
