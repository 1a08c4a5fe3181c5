import type { SessionDeps } from '../core/active-session.js';
import { createHttpFetch, MAX_PROVIDER_BODY_BYTES } from '../core/http.js';
import { createVault } from '../core/vault/vault.js';
import { verboseLog, type CommandContext } from './context.js';

// Only the commands that use a session load this (and with it the vault and
// crypto): --version, help and completion do not.

/** The vault, clock and network a command that uses sessions needs. */
export function sessionDeps(ctx: CommandContext): SessionDeps {
  return {
    paths: ctx.paths,
    vault: createVault({ paths: ctx.paths, env: ctx.io.env }),
    now: Date.now,
    fetch: createHttpFetch({ signal: ctx.signal, env: ctx.io.env, log: verboseLog(ctx.io), maxBodyBytes: MAX_PROVIDER_BODY_BYTES }),
    httpTimeoutSeconds: ctx.httpTimeoutSeconds,
  };
}
