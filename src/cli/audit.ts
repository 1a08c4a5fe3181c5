import { readAuditTail } from '../core/audit.js';
import { auditFile } from '../core/paths.js';
import { usageError } from '../errors.js';
import type { Deps } from '../deps.js';
import { writeJsonLine } from './output.js';

export interface AuditOptions {
  limit: number;
  json: boolean;
}

export const DEFAULT_AUDIT_LIMIT = 20;

export function parseAuditOptions(flags: Record<string, unknown>): AuditOptions {
  let limit = DEFAULT_AUDIT_LIMIT;
  if (flags.limit !== undefined) {
    const text = String(flags.limit);
    if (!/^\d{1,9}$/.test(text) || Number(text) === 0) throw usageError(`Invalid --limit "${text.slice(0, 20)}".`, 'Use a whole number of events, at least 1.');
    limit = Number(text);
  }
  return { limit, json: flags.json === true };
}

/** The last events of audit.log, newest last. */
export async function runAudit(options: AuditOptions, deps: Deps): Promise<void> {
  const events: Record<string, unknown>[] = [];
  let skipped = 0;
  for (const line of readAuditTail(deps.paths, options.limit)) {
    try {
      const event = JSON.parse(line) as unknown;
      if (typeof event === 'object' && event !== null && !Array.isArray(event)) events.push(event as Record<string, unknown>);
      else skipped += 1;
    } catch {
      skipped += 1;
    }
  }
  if (skipped > 0) deps.io.stderr.write(`warning: skipped ${skipped} unreadable line(s) in ${auditFile(deps.paths)}\n`);
  const shown = events.slice(-options.limit);
  if (options.json) {
    for (const event of shown) writeJsonLine(deps.io, event);
    return;
  }
  if (shown.length === 0) {
    deps.io.stderr.write('The audit log is empty.\n');
    return;
  }
  const text = (value: unknown): string => (typeof value === 'string' ? value.replace(/[\u0000-\u001f\u007f-\u009f]/g, '') : '-');
  deps.io.stdout.write(shown.map((event) => [
    text(event.time), text(event.event).padEnd(15), text(event.profile).padEnd(10), text(event.outcome).padEnd(7), text(event.subject),
    event.reason ? `(${text(event.reason)})` : '', event.command ? `[${text(event.command)}]` : '',
  ].join('  ').trimEnd()).join('\n') + '\n');
}
