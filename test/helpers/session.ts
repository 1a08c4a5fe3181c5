/**
 * Signing in for tests: the built CLI against the real local provider, the
 * approval done over HTTP on the provider's own pages.
 */
import { approveDeviceCode, denyDeviceCode } from '../../demo/approve.js';
import { startLocalProvider, type LocalProvider, type LocalProviderOptions } from '../../demo/provider.js';
import { startCli, type CliResult, type TestHome } from './cli.js';

export async function startProvider(options: LocalProviderOptions = {}): Promise<LocalProvider> {
  return startLocalProvider({ pollInterval: 1, ...options });
}

export interface LoginRun extends CliResult {
  verification: Record<string, unknown>;
}

/** Runs `devlogin login --json` and approves (or denies) as `user`. */
export async function signIn(
  provider: LocalProvider,
  home: TestHome,
  options: { args?: string[]; decision?: 'approve' | 'deny' | 'none'; user?: string; env?: NodeJS.ProcessEnv; approveFetch?: typeof fetch; wrap?: string[] } = {},
): Promise<LoginRun> {
  const args = ['login', '--json', '--issuer', provider.issuer, '--client-id', provider.clientId, ...(options.args ?? [])];
  const cli = startCli(args, { ...home.env, ...options.env }, options.wrap);
  const verification = await cli.waitForEvent('verification');
  const userCode = String(verification.user_code);
  const decision = options.decision ?? 'approve';
  const fetcher = options.approveFetch;
  if (decision === 'approve') await approveDeviceCode({ issuer: provider.issuer, userCode, login: options.user ?? 'alice', fetch: fetcher });
  if (decision === 'deny') await denyDeviceCode({ issuer: provider.issuer, userCode, fetch: fetcher });
  return { ...(await cli.done), verification };
}

/** Introspects a token at the provider (RFC 7662) as the public client. */
export async function introspect(provider: LocalProvider, token: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${provider.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: provider.clientId }),
  });
  return (await response.json()) as Record<string, unknown>;
}

/** A fetch through an undici dispatcher: one that trusts a private CA, or goes through a proxy. */
export async function fetchVia(dispatcher: (undici: typeof import('undici')) => import('undici').Dispatcher): Promise<typeof fetch> {
  const undici = await import('undici');
  const chosen = dispatcher(undici);
  return ((url: string, init: RequestInit) => undici.fetch(url, { ...(init as object), dispatcher: chosen } as Parameters<typeof undici.fetch>[1])) as unknown as typeof fetch;
}
