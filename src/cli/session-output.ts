import type { OnlineCheck } from '../core/active-session.js';
import { formatDuration } from '../core/duration.js';
import { toIso, type SessionRecord } from '../core/session.js';
import type { VaultBackend } from '../core/vault/envelope.js';
import type { IO } from '../io.js';
import { writeJsonLine } from './context.js';

// What whoami and token print, shared by the full commands and the fast
// path (fast-path.ts), so that both print the same bytes.

export interface WhoamiReport {
  record: SessionRecord;
  backend: VaultBackend;
  /** --online: which provider endpoints confirmed the session. */
  online?: Pick<OnlineCheck, 'checkedWith'>;
}

/** whoami's answer: lines for a person, or the stable --json object (documented in the README). */
export function writeWhoami(io: IO, report: WhoamiReport, json: boolean, nowSeconds: number): void {
  const { record, backend, online } = report;
  if (json) {
    writeJsonLine(io, whoamiJson(report, nowSeconds));
    return;
  }
  const who = record.claims.name ?? record.claims.preferred_username ?? record.subject;
  const lines = [
    `Signed in to ${record.issuer} as ${who}${record.claims.email ? ` <${record.claims.email}>` : ''}`,
    `  profile  ${record.profile}`,
    `  subject  ${record.subject}`,
    `  client   ${record.clientId}`,
    `  scope    ${record.scope}`,
    `  token    ${tokenState(record, nowSeconds)}`,
    `  session  ends ${toIso(record.sessionExpiresAt)} (in ${formatDuration(record.sessionExpiresAt - nowSeconds)})`,
    `  vault    ${backend === 'keychain' ? 'OS keychain' : 'passphrase'}`,
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

/** token's answer: the access token alone on one line (the one place a token is printed), or token, type and expiry as JSON. */
export function writeToken(io: IO, record: SessionRecord, json: boolean): void {
  if (json) {
    writeJsonLine(io, {
      access_token: record.accessToken,
      token_type: record.tokenType,
      expires_at: record.accessTokenExpiresAt === null ? null : toIso(record.accessTokenExpiresAt),
    });
  } else {
    io.stdout.write(`${record.accessToken}\n`);
  }
}
