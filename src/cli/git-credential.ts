import { readConfig } from '../core/config.js';
import { hostnameOf, readApiHosts, siteOf, tokenHostRule } from '../core/hosts.js';
import { isLoopbackHost } from '../core/oidc/issuer-url.js';
import { handOutToken } from '../core/session/hand-out.js';
import type { SessionRecord } from '../core/session/record.js';
import { resolveMinTtl } from '../core/settings.js';
import { printable } from '../core/text.js';
import type { Deps } from '../deps.js';
import { DevloginError, EXIT, usageError } from '../errors.js';

export interface GitCredentialOptions {
  profile: string;
  operation: string;
}

export function parseGitCredentialOptions(profile: string, operation: string | undefined): GitCredentialOptions {
  if (!operation) {
    throw usageError('git-credential needs an operation (get, store or erase): git runs it as a credential helper.', 'Set it up with: git config --global credential.https://HOST.helper \'!devlogin git-credential\'');
  }
  return { profile, operation };
}

/** The code of a refusal for a host that is not ours: git may ask other helpers for it. */
const HOST_REFUSED = 'host_not_allowed';

/**
 * The user name git sends with the token, by the provider's git host: GitHub
 * takes any user name with a token and documents x-access-token (gh's
 * `auth git-credential` sends it); GitLab wants `oauth2` for OAuth tokens.
 * Elsewhere: the one git asks with (credential.username, or the URL's), else
 * `oauth2`. A provider preset adds its own line here.
 */
export const GIT_USERNAMES: Readonly<Record<string, string>> = {
  'github.com': 'x-access-token',
  'gitlab.com': 'oauth2',
};

/**
 * git's credential helper protocol (git-credential(1), gitcredentials(7)).
 * `get` answers with the session's access token, refreshed as `token` does,
 * but only for a host on the issuer's site or in apiHosts; `store` and
 * `erase` write nothing: the session lives in devlogin's vault, and git must
 * neither keep a copy nor end the session.
 */
export async function runGitCredential(options: GitCredentialOptions, deps: Deps): Promise<void> {
  // git writes the description and closes the pipe; read it all, whatever the operation.
  const input = parseCredentialDescription((await deps.readStdin()).toString('utf8'));
  // gitcredentials(7): store and erase have nothing to do for a helper that
  // only generates credentials, and an operation a helper does not know "it
  // should silently ignore" (room for future operations).
  if (options.operation !== 'get') return;

  const { protocol, host } = input;
  if (!protocol || host === undefined) throw usageError('git-credential get needs "protocol" and "host" on standard input, as git sends them.');
  const hostname = hostnameOf(host);
  if (hostname === undefined) throw usageError(`git asked for the host "${printable(host, 80)}", which is not a host name.`);
  // The token never crosses a network in the clear: https, or http to this machine only.
  if (protocol !== 'https' && !(protocol === 'http' && isLoopbackHost(hostname))) {
    throw usageError(`Refusing to send the session's token over ${printable(protocol, 20)}:// to ${hostname}: only https (or http to this machine).`);
  }

  let record: SessionRecord;
  try {
    record = await handOut(options.profile, host, hostname, deps);
  } catch (err) {
    // gitcredentials(7): `quit` stops git from asking further helpers or the
    // user, so a git without a usable session (none, ended, vault locked,
    // broken config) fails at once instead of waiting on a password prompt;
    // the reason, with its fix, is the error line on stderr. A host that is
    // not ours is left to the other helpers.
    if (!(err instanceof DevloginError && err.code === HOST_REFUSED)) deps.io.stdout.write('quit=1\n');
    throw err;
  }
  const username = gitUsername(record, input.username);
  const expiresAt = Math.min(record.sessionExpiresAt, record.accessTokenExpiresAt ?? Infinity);
  // password_expiry_utc (git 2.41+; older gits discard unknown attributes):
  // git then never reuses the token past its end.
  deps.io.stdout.write(`username=${username}\npassword=${record.accessToken}\npassword_expiry_utc=${expiresAt}\n`);
}

/** The session's token for git's `host`, through the one path tokens leave by, if the host rule lets it go there. */
async function handOut(profile: string, host: string, hostname: string, deps: Deps): Promise<SessionRecord> {
  const apiHosts = await readApiHosts(deps, profile);
  const checkHost = (issuer: string) => {
    const rule = tokenHostRule(host, issuer, apiHosts);
    if (rule) return rule;
    throw new DevloginError(EXIT.usage, `Not sending the session's token to ${hostname}: it is not on the issuer's site (${siteOf(new URL(issuer).hostname)}) nor in apiHosts.`, {
      hint: 'Add the host to "apiHosts" in config.json if it should get it.',
      code: HOST_REFUSED,
    });
  };
  // The profile's issuer, when config.json knows it, decides before the
  // session is looked at: signed in or not, a host that is not ours is left to others.
  const knownIssuer = (await readConfig(deps.paths)).profiles[profile]?.issuer;
  if (knownIssuer && URL.canParse(knownIssuer)) checkHost(knownIssuer);
  const { record } = await handOutToken(profile, deps, {
    minTtlSeconds: resolveMinTtl(undefined),
    check: (session) => ({ command: 'git', host: hostname, hostRule: checkHost(session.issuer) }),
  });
  return record;
}

function gitUsername(record: SessionRecord, asked: string | undefined): string {
  const preset = GIT_USERNAMES[new URL(record.issuer).hostname.toLowerCase()];
  if (preset) return preset;
  return asked && /^[^\x00-\x1f\x7f]{1,256}$/.test(asked) ? asked : 'oauth2';
}

/** What git sends: `key=value` lines up to a blank line or the end (git-credential(1) "INPUT/OUTPUT FORMAT"). */
export function parseCredentialDescription(text: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const clean = line.replace(/\r$/, '');
    if (clean === '') break;
    const index = clean.indexOf('=');
    if (index <= 0) continue;
    const key = clean.slice(0, index);
    const value = clean.slice(index + 1);
    if (key === 'url') Object.assign(attributes, fromUrl(value));
    else if (!key.endsWith('[]')) attributes[key] = value;
  }
  return attributes;
}

/** `url=` stands for its parts (git-credential(1)). */
function fromUrl(value: string): Record<string, string> {
  try {
    const url = new URL(value);
    return {
      protocol: url.protocol.replace(/:$/, ''),
      host: url.host,
      ...(url.pathname.length > 1 ? { path: decodeURIComponent(url.pathname.slice(1)) } : {}),
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
    };
  } catch {
    return {};
  }
}
