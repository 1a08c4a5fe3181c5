import { checkOnline, ensureFresh, withSession, type OnlineCheck } from '../core/active-session.js';
import { formatDuration } from '../core/duration.js';
import { toIso, type SessionRecord } from '../core/session.js';
import type { VaultBackend } from '../core/vault/vault.js';
import { DevloginError, EXIT } from '../errors.js';
import { writeJsonLine, type CommandContext } from './context.js';
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
  let report: { record: SessionRecord; backend: VaultBackend; online?: OnlineCheck };
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
  const now = Date.now() / 1000;
  const { record, backend, online } = report;
  if (options.json) {
    writeJsonLine(ctx.io, whoamiJson(record, backend, now, online));
    return;
  }
  const who = record.claims.name ?? record.claims.preferred_username ?? record.subject;
  const lines = [
    `Signed in to ${record.issuer} as ${who}${record.claims.email ? ` <${record.claims.email}>` : ''}`,
    `  profile  ${record.profile}`,
    `  subject  ${record.subject}`,
    `  client   ${record.clientId}`,
    `  scope    ${record.scope}`,
    `  token    ${tokenState(record, now)}`,
    `  session  ends ${toIso(record.sessionExpiresAt)} (in ${formatDuration(record.sessionExpiresAt - now)})`,
    `  vault    ${backend === 'keychain' ? 'OS keychain' : 'passphrase'}`,
    `  binding  ${record.dpop ? `DPoP (${record.dpop.alg}): use "devlogin api"` : 'Bearer'}`,
  ];
  if (online) lines.push(`  online   valid, confirmed by the provider (${online.checkedWith.join(', ') || 'token accepted'})`);
  ctx.io.stdout.write(`${lines.join('\n')}\n`);
}

function tokenState(record: SessionRecord, now: number): string {
  if (record.accessTokenExpiresAt === null) return 'no expiry given by the provider';
  const left = record.accessTokenExpiresAt - now;
  return left > 0
    ? `expires ${toIso(record.accessTokenExpiresAt)} (in ${formatDuration(left)})`
    : `expired ${toIso(record.accessTokenExpiresAt)}; ${record.refreshToken ? 'refreshed on next use' : 'no refresh token'}`;
}

/** The stable --json shape (documented in the README). */
function whoamiJson(record: SessionRecord, backend: VaultBackend, now: number, online: OnlineCheck | undefined): Record<string, unknown> {
  return {
    profile: record.profile,
    signed_in: true,
    issuer: record.issuer,
    client_id: record.clientId,
    subject: record.subject,
    name: record.claims.name ?? null,
    email: record.claims.email ?? null,
    preferred_username: record.claims.preferred_username ?? null,
    scope: record.scope,
    access_token_expires_at: record.accessTokenExpiresAt === null ? null : toIso(record.accessTokenExpiresAt),
    access_token_valid: record.accessTokenExpiresAt === null || record.accessTokenExpiresAt > now,
    session_expires_at: toIso(record.sessionExpiresAt),
    session_id: record.sessionId,
    vault: backend,
    dpop_bound: record.dpop !== undefined,
    online: online ? { active: true, checked_with: online.checkedWith } : null,
  };
}
