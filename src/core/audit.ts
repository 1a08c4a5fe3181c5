import { appendFileSync, chmodSync, statSync } from 'node:fs';
import { ensurePrivateDir } from './fs-safe.js';
import { auditFile, type Paths } from './paths.js';
import type { SessionRecord } from './session/record.js';

export type AuditEventName =
  | 'login' | 'login_failed' | 'refresh' | 'token_read' | 'exec' | 'logout' | 'revoke' | 'session_expired';

/**
 * One line of audit.log. It describes a session event and never carries a
 * token, a code or any part of one.
 */
export interface AuditEvent {
  event: AuditEventName;
  profile: string;
  outcome: 'success' | 'failure';
  issuer?: string;
  subject?: string;
  clientId?: string;
  scope?: string;
  sessionId?: string;
  /** A short reason: an error code such as `access_denied`, never free text from a token. */
  reason?: string;
  /** exec: the program's name only (its arguments may hold secrets). */
  command?: string;
  /** token_read by api or git-credential: the host the token was sent to, and the rule that let it (issuer_site, api_hosts, allow_host). */
  host?: string;
  hostRule?: string;
  /** Ending a session: what the provider said to the revocation (revoked, no_endpoint, failed, not_asked). */
  revocation?: string;
}

/** Appends an event as one JSON line (file mode 0600). */
export async function appendAudit(paths: Paths, event: AuditEvent, now: Date = new Date()): Promise<void> {
  const file = auditFile(paths);
  await ensurePrivateDir(paths.stateDir);
  const line = `${JSON.stringify({ time: now.toISOString(), ...event })}\n`;
  appendFileSync(file, line, { mode: 0o600 });
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
}

/** Writes an audit event about a session, from its record (never a token). */
export function audit(
  deps: { paths: Paths; clock: { now(): number } },
  event: AuditEventName,
  record: SessionRecord,
  extra: Partial<Pick<AuditEvent, 'outcome' | 'reason' | 'command' | 'host' | 'hostRule'>> = {},
): Promise<void> {
  return appendAudit(deps.paths, {
    event,
    profile: record.profile,
    outcome: extra.outcome ?? 'success',
    issuer: record.issuer,
    subject: record.subject,
    clientId: record.clientId,
    scope: record.scope,
    sessionId: record.sessionId,
    ...(extra.reason ? { reason: extra.reason } : {}),
    ...(extra.command ? { command: extra.command } : {}),
    ...(extra.host ? { host: extra.host, hostRule: extra.hostRule } : {}),
  }, new Date(deps.clock.now()));
}
