import { handOutToken } from '../core/session/hand-out.js';
import { idTokenExpiresAt, type SessionRecord } from '../core/session/record.js';
import type { HandedToken } from '../core/session/refresh.js';
import { nowSeconds } from '../core/session/active.js';
import { resolveMinTtl, type Env } from '../core/settings.js';
import { printable } from '../core/text.js';
import type { Deps } from '../deps.js';
import { DevloginError, EXIT, providerError, usageError } from '../errors.js';
import { writeJsonLine } from './output.js';

export interface KubeCredentialOptions {
  profile: string;
  /** The ID token (what an OpenID Connect cluster checks), or with --access-token the access token. */
  token: HandedToken;
}

export function parseKubeCredentialOptions(profile: string, flags: Record<string, unknown>): KubeCredentialOptions {
  return { profile, token: flags.accessToken === true ? 'access' : 'id' };
}

/** The ExecCredential versions client-go speaks; the answer carries the one it asked for. */
const API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'];

interface ExecInfo {
  apiVersion: string;
  /** kubectl's spec.interactive: its standard input is a terminal the plugin may use. */
  interactive: boolean;
}

/**
 * KUBERNETES_EXEC_INFO, the ExecCredential kubectl passes to its plugin
 * (client.authentication.k8s.io/v1: `spec.interactive` is true when the
 * kubeconfig's interactiveMode allows it and kubectl's stdin is a terminal).
 * Without it (run by hand, or by an old client): v1, not interactive, as
 * kubelogin reads it.
 */
export function readExecInfo(env: Env): ExecInfo {
  const raw = env.KUBERNETES_EXEC_INFO;
  if (!raw) return { apiVersion: API_VERSIONS[0]!, interactive: false };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw usageError('KUBERNETES_EXEC_INFO is not valid JSON; kubectl sets it to an ExecCredential.');
  }
  const info = (typeof value === 'object' && value !== null ? value : {}) as { apiVersion?: unknown; spec?: { interactive?: unknown } };
  const apiVersion = typeof info.apiVersion === 'string' ? info.apiVersion : '';
  if (!API_VERSIONS.includes(apiVersion)) {
    throw usageError(`kubectl asked for an ExecCredential of apiVersion "${printable(apiVersion, 60)}", which devlogin does not speak.`, 'Set "apiVersion: client.authentication.k8s.io/v1" in the kubeconfig\'s exec section.');
  }
  return { apiVersion, interactive: info.spec?.interactive === true };
}

/**
 * kubectl's exec credential plugin: an ExecCredential on stdout (nothing else
 * goes there) with the token and its expiry, so that kubectl keeps it until
 * then. Without a session, an interactive kubectl gets the device flow on
 * stderr right there, as kubelogin does; any other gets the hint and exit 3.
 */
export async function runKubeCredential(options: KubeCredentialOptions, deps: Deps): Promise<void> {
  const info = readExecInfo(deps.env);
  let record: SessionRecord;
  try {
    record = await readToken(options, deps);
  } catch (err) {
    const signInAgain = err instanceof DevloginError && (err.exitCode === EXIT.notSignedIn || err.exitCode === EXIT.sessionEnded);
    if (!info.interactive || !signInAgain) throw err;
    deps.io.stderr.write(`devlogin: ${err.message} Signing in for kubectl.\n`);
    const { parseLoginOptions, runLogin } = await import('./login.js');
    await runLogin(parseLoginOptions(options.profile, {}), deps);
    record = await readToken(options, deps);
  }
  const token = options.token === 'id' ? record.idToken! : record.accessToken;
  const tokenExpiresAt = options.token === 'id' ? idTokenExpiresAt(record) : record.accessTokenExpiresAt;
  if (tokenExpiresAt !== null && tokenExpiresAt <= nowSeconds(deps)) {
    throw providerError('The provider sent no new ID token when the session was refreshed, and the last one has expired.', { code: 'no_id_token', hint: 'Use --access-token if the cluster accepts access tokens.' });
  }
  // kubectl caches the credential until then: never past the session's own end.
  const expiresAt = Math.min(record.sessionExpiresAt, tokenExpiresAt ?? Infinity);
  writeJsonLine(deps.io, {
    apiVersion: info.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: info.interactive },
    status: { expirationTimestamp: new Date(expiresAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'), token },
  });
}

async function readToken(options: KubeCredentialOptions, deps: Deps): Promise<SessionRecord> {
  const { record } = await handOutToken(options.profile, deps, {
    minTtlSeconds: resolveMinTtl(undefined),
    token: options.token,
    details: { command: 'kubectl' },
    check: (session) => {
      if (options.token === 'id' && !session.idToken) {
        throw usageError('This session has no ID token for kubectl to send (the provider signed it in without OpenID Connect).', 'Use "devlogin kube-credential --access-token" if the cluster accepts access tokens.');
      }
      return undefined;
    },
  });
  return record;
}
