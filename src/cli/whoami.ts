import { withSession } from '../core/session/active.js';
import { checkOnline, type OnlineCheck } from '../core/session/online.js';
import { ensureFresh } from '../core/session/refresh.js';
import { formatDuration } from '../core/duration.js';
import { toIso, type SessionRecord } from '../core/session/record.js';
import type { VaultBackend } from '../core/vault/vault.js';
import type { Deps } from '../deps.js';
import { DevloginError, EXIT } from '../errors.js';
import type { IO } from '../io.js';
import { writeJsonLine } from './output.js';
import { VAULT_NAMES } from './vault-names.js';

export interface WhoamiOptions {
  profile: string;
  online: boolean;
  json: boolean;
}

export function parseWhoamiOptions(profile: string, flags: Record<string, unknown>): WhoamiOptions {
  return { profile, online: flags.online === true, json: flags.json === true };
}

interface WhoamiReport {
  record: SessionRecord;
  backend: VaultBackend;
  /** --online: which provider endpoints confirmed the session. */
  online?: Pick<OnlineCheck, 'checkedWith'>;
}

/**
 * Who is signed in. Offline by default, from the claims verified at login;
 * --online asks the provider. Exit 0 signed in, 3 not signed in, 4 ended.
 */
export async function runWhoami(options: WhoamiOptions, deps: Deps): Promise<void> {
  let report: WhoamiReport;
  try {
    report = await withSession(options.profile, deps, async (loaded) => {
      if (!options.online) return { record: loaded.record, backend: loaded.backend };
      const fresh = await ensureFresh(loaded, 0, deps);
      return { record: fresh.record, backend: fresh.backend, online: await checkOnline(fresh, deps) };
    });
  } catch (err) {
    // Scripts reading --json get an answer on stdout as well as the exit code.
    if (options.json && err instanceof DevloginError && (err.exitCode === EXIT.notSignedIn || err.exitCode === EXIT.sessionEnded)) {
      writeJsonLine(deps.io, { profile: options.profile, signed_in: false, reason: err.code ?? null });
    }
    throw err;
  }
  const now = deps.clock.now() / 1000;
  if (options.json) writeJsonLine(deps.io, whoamiJson(report, now));
  else writeWhoami(deps.io, report, now);
}

function writeWhoami(io: IO, { record, backend, online }: WhoamiReport, nowSeconds: number): void {
  const who = record.claims.name ?? record.claims.preferred_username ?? record.subject;
  const lines = [
    `Signed in to ${record.issuer} as ${who}${record.claims.email ? ` <${record.claims.email}>` : ''}`,
    `  profile  ${record.profile}`,
    `  subject  ${record.subject}`,
    ...(record.identityVerifiedBy === 'user_api' && record.claims.preferred_username ? [`  login    ${record.claims.preferred_username}`] : []),
    `  verified ${record.identityVerifiedBy === 'user_api' ? 'by the provider\'s user API over TLS (no ID token)' : 'by a signed ID token'}`,
    `  client   ${record.clientId}`,
    `  scope    ${record.scope}`,
    `  token    ${tokenState(record, nowSeconds)}`,
    `  session  ends ${toIso(record.sessionExpiresAt)} (in ${formatDuration(record.sessionExpiresAt - nowSeconds)})`,
    `  vault    ${VAULT_NAMES[backend]}`,
    `  binding  ${record.dpop ? `DPoP (${record.dpop.alg}): use "devlogin api"` : 'Bearer'}`,
  ];
  if (online) lines.push(`  online   valid, confirmed by the provider (${online.checkedWith.join(', ') || 'token accepted'})`);
  io.stdout.write(`${lines.join('\n')}\n`);
}

function tokenState(record: SessionRecord, now: number): string {
  if (record.accessTokenExpiresAt === null) return 'no expiry given by the provider';
  const left = record.accessTokenExpiresAt - now;
  return left > 0
    ? `expires ${toIso(record.accessTokenExpiresAt)} (in ${formatDuration(left)})`
    : `expired ${toIso(record.accessTokenExpiresAt)}; ${record.refreshToken ? 'refreshed on next use' : 'no refresh token'}`;
}

/** The stable --json object (documented in the README). */
function whoamiJson({ record, backend, online }: WhoamiReport, now: number): Record<string, unknown> {
  return {
    profile: record.profile,
    signed_in: true,
    issuer: record.issuer,
    client_id: record.clientId,
    subject: record.subject,
    name: record.claims.name ?? null,
    email: record.claims.email ?? null,
    preferred_username: record.claims.preferred_username ?? null,
    provider: record.provider ?? 'generic',
    identity_verified_by: record.identityVerifiedBy ?? 'id_token',
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
