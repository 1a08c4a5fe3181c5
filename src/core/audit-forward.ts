import { usageError } from '../errors.js';
import type { AuditLine, AuditSink } from './audit.js';
import type { Env } from './settings.js';
import { printable } from './text.js';

/** Where DEVLOGIN_AUDIT_SYSLOG sends audit events. */
export type AuditTarget =
  | { kind: 'udp' | 'tcp'; host: string; port: number }
  | { kind: 'journal' };

/**
 * Parses DEVLOGIN_AUDIT_SYSLOG: `udp://HOST:PORT`, `tcp://HOST:PORT` or
 * `journal`. Unset is no forwarding; anything else is exit 2: an
 * administrator who asked for the events must not lose them silently.
 */
export function parseAuditTarget(env: Env): AuditTarget | undefined {
  const value = env.DEVLOGIN_AUDIT_SYSLOG?.trim();
  if (!value) return undefined;
  if (value === 'journal') return { kind: 'journal' };
  const invalid = () => usageError(`Invalid DEVLOGIN_AUDIT_SYSLOG "${printable(value, 80)}".`, 'Use udp://HOST:PORT, tcp://HOST:PORT or journal.');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid();
  }
  const kind = url.protocol === 'udp:' ? 'udp' : url.protocol === 'tcp:' ? 'tcp' : undefined;
  const port = Number(url.port);
  if (!kind || !url.hostname || !Number.isInteger(port) || port < 1 || url.pathname.replace(/^\/$/, '') || url.search || url.username) throw invalid();
  return { kind, host: url.hostname.replace(/^\[|\]$/g, ''), port };
}

export interface ForwardOptions {
  hostname: string;
  pid: number;
  /** --verbose: a collector that is down is said here, and nowhere else. */
  warn?: ((line: string) => void) | undefined;
  timeoutMs?: number;
}

/** RFC 5424 §7.2.2: an SD-ID of our own is NAME@PEN; 32473 is the PEN reserved for examples (RFC 5612), devlogin has none of its own. */
export const SD_ID = 'devlogin@32473';
const FACILITY_CODE = 10;
const FIELDS = ['event', 'profile', 'outcome', 'issuer', 'subject', 'clientId', 'scope', 'sessionId', 'reason', 'command', 'revocation'] as const;

/**
 * The sink that sends each audit line to the organisation's collector, as
 * written to audit.log (the same fields, never a token). A collector that is
 * down or slow costs at most `timeoutMs` and a warning under --verbose; the
 * command and its local line are never affected.
 */
export function createAuditForwarder(target: AuditTarget, options: ForwardOptions): AuditSink {
  const timeoutMs = options.timeoutMs ?? 1000;
  const send = target.kind === 'journal' ? sendToJournal : target.kind === 'udp' ? sendUdp : sendTcp;
  return async (line) => {
    try {
      await send(target as never, line, options, timeoutMs);
    } catch (err) {
      options.warn?.(`audit event not forwarded to ${describe(target)}: ${err instanceof Error ? err.message : 'error'}`);
    }
  };
}

function describe(target: AuditTarget): string {
  return target.kind === 'journal' ? 'the systemd journal' : `${target.kind}://${target.host}:${target.port}`;
}

/** RFC 5424 §6.2.1 severities. */
const SEVERITY = { warning: 4, info: 6 } as const;

/** RFC 5424 §6: header fields are printable US-ASCII without spaces, or "-" (the NILVALUE) when empty. */
function headerField(value: string, maxLength: number): string {
  const clean = value.replace(/[^\x21-\x7e]/g, '').slice(0, maxLength);
  return clean === '' ? '-' : clean;
}

/** RFC 5424 §6.3.3: in a PARAM-VALUE, '"', '\\' and ']' are escaped with a backslash. */
const paramValue = (value: string): string => value.replace(/["\\\]]/g, (c) => `\\${c}`);

/**
 * The RFC 5424 message: facility 10 (authpriv), severity info or warning,
 * the time in UTC with milliseconds, MSGID the event, the fields as
 * structured data, a short text for people. (Written here: the formatter
 * libraries at hand got the time wrong, e.g. glossy 0.1.7 writes 29 ms as
 * ".29" and UTC fields with the local offset.)
 */
export function formatRfc5424(line: AuditLine, options: Pick<ForwardOptions, 'hostname' | 'pid'>): string {
  const params: string[] = [];
  for (const field of FIELDS) {
    const value = line[field];
    if (typeof value === 'string' && value !== '') params.push(` ${field}="${paramValue(value)}"`);
  }
  const pri = FACILITY_CODE * 8 + (line.outcome === 'failure' ? SEVERITY.warning : SEVERITY.info);
  const header = [
    `<${pri}>1`,
    new Date(line.time).toISOString(),
    headerField(options.hostname, 255),
    'devlogin',
    headerField(String(options.pid), 128),
    headerField(line.event, 32),
  ].join(' ');
  return `${header} [${SD_ID}${params.join('')}] ${summary(line)}`;
}

function summary(line: AuditLine): string {
  return `${line.event} ${line.outcome} profile=${line.profile}${line.subject ? ` subject=${line.subject}` : ''}${line.reason ? ` reason=${line.reason}` : ''}`;
}

async function sendUdp(target: { host: string; port: number }, line: AuditLine, options: ForwardOptions, timeoutMs: number): Promise<void> {
  const message = Buffer.from(formatRfc5424(line, options), 'utf8');
  const { createSocket } = await import('node:dgram');
  const socket = createSocket(target.host.includes(':') ? 'udp6' : 'udp4');
  try {
    await withTimeout(timeoutMs, new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.send(message, target.port, target.host, (err) => (err ? reject(err) : resolve()));
    }));
  } finally {
    socket.close();
  }
}

/** RFC 6587 §3.4.1 octet counting: "LENGTH SP MESSAGE", so a message may hold any byte. */
async function sendTcp(target: { host: string; port: number }, line: AuditLine, options: ForwardOptions, timeoutMs: number): Promise<void> {
  const message = Buffer.from(formatRfc5424(line, options), 'utf8');
  const { connect } = await import('node:net');
  const socket = connect({ host: target.host, port: target.port });
  try {
    await withTimeout(timeoutMs, new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.once('connect', () => socket.end(Buffer.concat([Buffer.from(`${message.length} `), message]), () => resolve()));
    }));
  } finally {
    socket.destroy();
  }
}

/**
 * The local systemd journal, through util-linux's `logger --journald`, which
 * speaks journald's native protocol (Node has no unix datagram sockets): one
 * FIELD=value per line, DEVLOGIN_* fields for the event's.
 */
async function sendToJournal(_target: unknown, line: AuditLine, _options: ForwardOptions, timeoutMs: number): Promise<void> {
  const fields = [
    `MESSAGE=devlogin: ${summary(line)}`,
    `PRIORITY=${line.outcome === 'failure' ? 4 : 6}`,
    `SYSLOG_FACILITY=${FACILITY_CODE}`,
    'SYSLOG_IDENTIFIER=devlogin',
    `DEVLOGIN_TIME=${line.time}`,
    ...FIELDS.flatMap((field) => {
      const value = line[field];
      return typeof value === 'string' && value !== '' ? [`DEVLOGIN_${field.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}=${value}`] : [];
    }),
  ];
  const { spawn } = await import('node:child_process');
  const child = spawn('logger', ['--journald'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await withTimeout(timeoutMs, new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`logger exited ${code}: ${printable(stderr.trim(), 120)}`))));
      child.stdin.end(`${fields.join('\n')}\n`);
    }));
  } finally {
    if (child.exitCode === null) child.kill();
  }
}

function withTimeout<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The sink for this environment, or none. */
export function auditSinkFor(env: Env, options: ForwardOptions): AuditSink | undefined {
  const target = parseAuditTarget(env);
  return target ? createAuditForwarder(target, options) : undefined;
}
