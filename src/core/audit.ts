import { appendFileSync, chmodSync, statSync } from 'node:fs';
import { ensurePrivateDir } from './fs-safe.js';
import { auditFile, type Paths } from './paths.js';
import type { SessionRecord } from './session/record.js';
import { stripControl } from './text.js';

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
  /** Ending a session: what the provider said to the revocation (revoked, no_endpoint, failed, not_asked). */
  revocation?: string;
}

/** An event as written: its time first, every string already sanitised. */
export type AuditLine = { time: string } & AuditEvent;

/** Where events go besides audit.log (DEVLOGIN_AUDIT_SYSLOG): it never fails and never throws. */
export type AuditSink = (line: AuditLine) => Promise<void>;

export interface AuditDeps {
  paths: Paths;
  clock: { now(): number };
  auditSink?: AuditSink | undefined;
}

/** Longest string kept in an event: names, subjects and scopes come from the provider. */
const MAX_FIELD = 512;

/**
 * Appends an event as one JSON line (file mode 0600), then hands it to the
 * sink. Every string is stripped of control, bidi, format and line-separator
 * characters first, so no provider string can make one event look like two
 * (JSON.stringify escapes newlines, but a viewer may still break at U+2028
 * or be reordered by U+202E).
 */
export async function appendAudit(deps: AuditDeps, event: AuditEvent): Promise<void> {
  const file = auditFile(deps.paths);
  await ensurePrivateDir(deps.paths.stateDir);
  const clean = Object.fromEntries(Object.entries(event).map(([key, value]) =>
    [key, typeof value === 'string' ? stripControl(value).slice(0, MAX_FIELD) : value])) as unknown as AuditEvent;
  const line: AuditLine = { time: new Date(deps.clock.now()).toISOString(), ...clean };
  appendFileSync(file, `${JSON.stringify(line)}\n`, { mode: 0o600 });
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  await deps.auditSink?.(line);
}

/** Writes an audit event about a session, from its record (never a token). */
export function audit(
  deps: AuditDeps,
  event: AuditEventName,
  record: SessionRecord,
  extra: Partial<Pick<AuditEvent, 'outcome' | 'reason' | 'command' | 'scope'>> = {},
): Promise<void> {
  return appendAudit(deps, {
    event,
    profile: record.profile,
    outcome: extra.outcome ?? 'success',
    issuer: record.issuer,
    subject: record.subject,
    clientId: record.clientId,
    scope: extra.scope ?? record.scope,
    sessionId: record.sessionId,
    ...(extra.reason ? { reason: extra.reason } : {}),
    ...(extra.command ? { command: extra.command } : {}),
  });
}
