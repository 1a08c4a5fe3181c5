import { readFileOrNull } from './fs-safe.js';
import { parseDuration } from './duration.js';
import { DevloginError, EXIT } from '../errors.js';

/**
 * An administrator's policy (/etc/devlogin/policy.json, or DEVLOGIN_POLICY):
 * limits that a user's flags, environment and config.json cannot loosen.
 */
export interface Policy {
  path: string;
  /** Ceiling for --max-session, in seconds. */
  maxSessionSeconds?: number;
  /** Issuer URLs that may be used, compared without a trailing slash. */
  allowedIssuers?: string[];
  /** Every session must be DPoP-bound. */
  requireDpop?: boolean;
  /** false: sessions may only go to the OS keychain. */
  allowPassphraseVault?: boolean;
  /** Scopes that may be requested (openid is always allowed: devlogin needs it). */
  allowedScopes?: string[];
  /** Hosts (or registrable domains) where a verification page may live besides the issuer's site. */
  trustedVerificationHosts?: string[];
  /** Hosts (or registrable domains) besides the issuer's site that api and git-credential may send the token to. */
  apiHosts?: string[];
}

export const DEFAULT_POLICY_PATH = '/etc/devlogin/policy.json';

const KNOWN = new Set(['maxSession', 'allowedIssuers', 'requireDpop', 'allowPassphraseVault', 'allowedScopes', 'trustedVerificationHosts', 'apiHosts']);

/** Reads the policy; none is null. A policy that cannot be read or understood is exit 2: it fails closed. */
export async function readPolicy(env: Readonly<Record<string, string | undefined>>): Promise<Policy | null> {
  return readPolicyAt(env.DEVLOGIN_POLICY || DEFAULT_POLICY_PATH);
}

/**
 * The administrator's policy and the one DEVLOGIN_POLICY names, both (none
 * that exists is left out): for the rules that only ever add (apiHosts), a
 * policy from a variable adds to the administrator's and never takes its
 * place. `adminPath` is for tests.
 */
export async function readPolicyFiles(env: Readonly<Record<string, string | undefined>>, adminPath = DEFAULT_POLICY_PATH): Promise<Policy[]> {
  const paths = [...new Set([adminPath, env.DEVLOGIN_POLICY].filter((path): path is string => Boolean(path)))];
  const policies = await Promise.all(paths.map(readPolicyAt));
  return policies.filter((policy): policy is Policy => policy !== null);
}

async function readPolicyAt(path: string): Promise<Policy | null> {
  let raw: Buffer | null;
  try {
    raw = await readFileOrNull(path, 'self-or-root');
  } catch (err) {
    throw invalid(path, `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (raw === null) return null;
  return parsePolicy(raw.toString('utf8'), path);
}

export function parsePolicy(text: string, path: string): Policy {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid(path, 'is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(path, 'must hold a JSON object');
  const data = value as Record<string, unknown>;
  const unknown = Object.keys(data).filter((key) => !KNOWN.has(key));
  if (unknown.length > 0) throw invalid(path, `has unknown rules: ${unknown.slice(0, 5).map((key) => key.slice(0, 40)).join(', ')}`);
  const policy: Policy = { path };
  if (data.maxSession !== undefined) {
    if (typeof data.maxSession !== 'string' && typeof data.maxSession !== 'number') throw invalid(path, '"maxSession" must be a duration such as "8h"');
    try {
      policy.maxSessionSeconds = parseDuration(String(data.maxSession), 'maxSession');
    } catch {
      throw invalid(path, '"maxSession" must be a duration such as "8h"');
    }
  }
  for (const key of ['allowedIssuers', 'allowedScopes', 'trustedVerificationHosts', 'apiHosts'] as const) {
    const list = data[key];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every((item) => typeof item === 'string' && item.length > 0)) throw invalid(path, `"${key}" must be a list of strings`);
    policy[key] = key === 'allowedIssuers' ? list.map(normalizeIssuer) : list.map((item) => item.toLowerCase());
  }
  for (const key of ['requireDpop', 'allowPassphraseVault'] as const) {
    const flag = data[key];
    if (flag === undefined) continue;
    if (typeof flag !== 'boolean') throw invalid(path, `"${key}" must be true or false`);
    policy[key] = flag;
  }
  return policy;
}

export function normalizeIssuer(issuer: string): string {
  return issuer.trim().replace(/\/+$/, '');
}

/** A login refused by the policy: exit 2, naming the rule. */
export function policyRefusal(policy: Policy, rule: keyof Omit<Policy, 'path'> | 'maxSession', message: string): DevloginError {
  return new DevloginError(EXIT.usage, `Refused by the devlogin policy (${policy.path}, rule "${rule}"): ${message}`, {
    hint: 'Ask the administrator who set it if you need an exception.',
    code: `policy_${rule}`,
  });
}

function invalid(path: string, reason: string): DevloginError {
  return new DevloginError(EXIT.usage, `The devlogin policy ${path} ${reason}.`, {
    hint: 'devlogin refuses to sign in until the administrator fixes it (set DEVLOGIN_POLICY to test another file).',
    code: 'policy_invalid',
  });
}
