import { assertSafeDirs, readFileOrNull, writeFileAtomic } from './fs-safe.js';
import { configFile, type Paths } from './paths.js';
import { usageError } from '../errors.js';

/** What config.json may hold for one profile. Never a secret. */
export interface ProfileConfig {
  /** The provider preset (github, google, …): see core/providers/presets.ts. */
  provider?: string;
  issuer?: string;
  clientId?: string;
  scope?: string;
  audience?: string;
  /** Default --max-session for this profile, e.g. "30m". */
  maxSession?: string;
  /** Hosts besides the issuer's site where this provider's verification page may live. */
  trustedVerificationHosts?: string[];
  /** login --dpop: bind this profile's tokens to a DPoP key (RFC 9449). */
  dpop?: boolean;
  /** Hosts besides the issuer's site that api and git-credential may send this profile's token to. */
  apiHosts?: string[];
}

/** What a login saves in its profile: never a token or secret. */
export type SavedLoginSettings = Pick<ProfileConfig, 'provider' | 'issuer' | 'clientId' | 'scope' | 'audience' | 'dpop'>;

export interface ConfigFile {
  profiles: Record<string, ProfileConfig>;
}

export const DEFAULT_PROFILE = 'default';

/** The ` --profile NAME` to add to a suggested command: nothing for the default profile. */
export function profileFlag(profile: string): string {
  return profile === DEFAULT_PROFILE ? '' : ` --profile ${profile}`;
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Profile names become file names, so they are kept to a safe alphabet. */
export function validateProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) {
    throw usageError(
      `Invalid profile name "${name.replace(/[^\x20-\x7e]/g, '?').slice(0, 70)}".`,
      'Use letters, digits, ".", "_" or "-" (at most 64 characters), starting with a letter or digit.',
    );
  }
  return name;
}

/** Reads config.json; a missing file is an empty config, a broken one is exit 2. */
export async function readConfig(paths: Paths): Promise<ConfigFile> {
  const path = configFile(paths);
  assertSafeDirs(paths.configDir, paths.stateDir);
  const raw = await readFileOrNull(path);
  if (raw === null) return { profiles: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw usageError(`The config file ${path} is not valid JSON.`, 'Fix or delete it; devlogin rewrites it on the next login.');
  }
  return { profiles: parseProfiles(parsed, path) };
}

function parseProfiles(parsed: unknown, path: string): Record<string, ProfileConfig> {
  if (!isRecord(parsed)) throw usageError(`The config file ${path} must hold a JSON object.`);
  const profiles = parsed.profiles ?? {};
  if (!isRecord(profiles)) throw usageError(`"profiles" in ${path} must be an object.`);
  const result: Record<string, ProfileConfig> = {};
  for (const [name, value] of Object.entries(profiles)) {
    if (!PROFILE_NAME.test(name) || !isRecord(value)) continue;
    const profile: ProfileConfig = {};
    for (const key of ['provider', 'issuer', 'clientId', 'scope', 'audience', 'maxSession'] as const) {
      const field = value[key];
      if (typeof field === 'string') profile[key] = field;
      else if (field !== undefined) throw usageError(`"profiles.${name}.${key}" in ${path} must be a string.`);
    }
    const hosts = value.trustedVerificationHosts;
    if (Array.isArray(hosts) && hosts.every((host) => typeof host === 'string')) profile.trustedVerificationHosts = hosts;
    else if (hosts !== undefined) throw usageError(`"profiles.${name}.trustedVerificationHosts" in ${path} must be a list of host names.`);
    if (typeof value.dpop === 'boolean') profile.dpop = value.dpop;
    else if (value.dpop !== undefined) throw usageError(`"profiles.${name}.dpop" in ${path} must be true or false.`);
    const apiHosts = value.apiHosts;
    if (Array.isArray(apiHosts) && apiHosts.every((host) => typeof host === 'string')) profile.apiHosts = apiHosts;
    else if (apiHosts !== undefined) throw usageError(`"profiles.${name}.apiHosts" in ${path} must be a list of host names.`);
    result[name] = profile;
  }
  return result;
}

/** Merges settings into one profile and writes config.json atomically (0600). */
export async function saveProfile(paths: Paths, name: string, settings: SavedLoginSettings): Promise<void> {
  const config = await readConfig(paths);
  const merged: Record<string, unknown> = { ...config.profiles[name] };
  for (const [key, value] of Object.entries(settings)) {
    if (value !== undefined) merged[key] = value;
  }
  // --no-dpop clears it: a profile says dpop only when it is on.
  if (merged.dpop === false) delete merged.dpop;
  config.profiles[name] = merged as ProfileConfig;
  await writeFileAtomic(configFile(paths), `${JSON.stringify(config, null, 2)}\n`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
