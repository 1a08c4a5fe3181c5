import { lstatSync, renameSync } from 'node:fs';
import { appendPrivate, assertSafeDirs, assertSafeFile, ensurePrivateDir, isNotFound, readTailLines } from './fs-safe.js';
import { auditFile, type Paths } from './paths.js';
import type { SessionRecord } from './session/record.js';
import { isoTime, stripControl } from './text.js';

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
  const line: AuditLine = { time: isoTime(deps.clock.now()), ...clean };
  rotateIfLarge(file);
  appendPrivate(file, `${JSON.stringify(line)}\n`);
  await deps.auditSink?.(line);
}

/** audit.log is rotated when it reaches this size: it becomes audit.log.1 (the previous one is dropped). */
export const AUDIT_ROTATE_BYTES = 8 * 1024 * 1024;

function rotateIfLarge(file: string): void {
  try {
    const info = lstatSync(file);
    if (info.isFile() && info.size >= AUDIT_ROTATE_BYTES) renameSync(file, `${file}.1`);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

/**
 * The audit log can be written: checked before a command does work whose
 * event could then not be recorded (a planted link is refused up front).
 */
export function assertAuditWritable(paths: Paths): void {
  assertSafeDirs(paths.stateDir);
  assertSafeFile(auditFile(paths));
}

/** The last `limit` lines of the audit log, across the rotated file too, oldest first. */
export function readAuditTail(paths: Paths, limit: number): string[] {
  const file = auditFile(paths);
  assertSafeDirs(paths.stateDir);
  const recent = readTailLines(file, limit);
  return recent.length >= limit ? recent : [...readTailLines(`${file}.1`, limit - recent.length), ...recent];
}

/** Writes an audit event about a session, from its record (never a token). */
export function audit(
  deps: AuditDeps,
  event: AuditEventName,
  record: SessionRecord,
  extra: Partial<Pick<AuditEvent, 'outcome' | 'reason' | 'command' | 'scope' | 'host' | 'hostRule'>> = {},
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
    ...(extra.host ? { host: extra.host, hostRule: extra.hostRule } : {}),
  });
}
