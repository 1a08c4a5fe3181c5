import { readConfig } from '../core/config.js';
import { formatDuration } from '../core/duration.js';
import { isSessionExpired, toIso } from '../core/session/record.js';
import type { StoredMeta } from '../core/vault/vault.js';
import type { Deps } from '../deps.js';
import { writeJsonLine } from './output.js';

export interface SessionsOptions {
  json: boolean;
}

export function parseSessionsOptions(flags: Record<string, unknown>): SessionsOptions {
  return { json: flags.json === true };
}

type State = 'active' | 'expired' | 'not signed in' | 'unreadable';

/**
 * Every profile (from config.json and the vault) with its state and
 * expiries, from the clear part of the session files, each checked against
 * the sealed record it must match (vault.verifiedMeta): a clear part that was
 * edited, a missing key or an old copy is "unreadable". Nobody is asked
 * anything and nothing goes on the network: a passphrase session without
 * DEVLOGIN_VAULT_PASSPHRASE is shown unverified.
 */
export async function runSessions(options: SessionsOptions, deps: Deps): Promise<void> {
  const { vault, io } = deps;
  const config = await readConfig(deps.paths);
  const names = [...new Set([...Object.keys(config.profiles), ...(await vault.profiles())])].sort();
  const now = deps.clock.now() / 1000;
  const rows = await Promise.all(names.map(async (profile) => {
    let stored: (StoredMeta & { verified: boolean }) | null = null;
    let state: State;
    try {
      stored = await vault.verifiedMeta(profile);
      state = !stored ? 'not signed in' : isSessionExpired(stored.meta, now) ? 'expired' : 'active';
    } catch {
      state = 'unreadable';
    }
    return { profile, state, stored, issuer: stored?.meta.issuer ?? config.profiles[profile]?.issuer ?? null };
  }));

  if (options.json) {
    for (const { profile, state, stored, issuer } of rows) {
      const meta = stored?.meta;
      writeJsonLine(io, {
        profile,
        state: state === 'not signed in' ? 'not_signed_in' : state,
        issuer,
        client_id: meta?.clientId ?? config.profiles[profile]?.clientId ?? null,
        subject: meta?.subject ?? null,
        access_token_expires_at: meta?.accessTokenExpiresAt ? toIso(meta.accessTokenExpiresAt) : null,
        session_expires_at: meta ? toIso(meta.sessionExpiresAt) : null,
        vault: stored?.backend ?? null,
        verified: stored?.verified ?? null,
      });
    }
    return;
  }
  if (rows.length === 0) {
    io.stderr.write('No profiles yet. Run "devlogin login --issuer URL --client-id ID" to sign in.\n');
    return;
  }
  const table = [['PROFILE', 'STATE', 'SUBJECT', 'ISSUER', 'SESSION ENDS', 'VAULT'], ...rows.map(({ profile, state, stored, issuer }) => [
    profile,
    stored && !stored.verified ? `${state} (unverified)` : state,
    stored?.meta.subject ?? '-',
    issuer ?? '-',
    stored ? `${toIso(stored.meta.sessionExpiresAt)} (${state === 'expired' ? 'ended' : `in ${formatDuration(stored.meta.sessionExpiresAt - now)}`})` : '-',
    stored?.backend ?? '-',
  ])];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  io.stdout.write(table.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n') + '\n');
}
