import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readConfig, saveProfile } from '../src/core/config.js';
import { parsePolicy } from '../src/core/policy.js';
import { normalizeScope, resolveLoginSettings, type LoginSources } from '../src/core/settings.js';
import { PRESETS } from '../src/core/providers/presets.js';
import { formatDuration, parseDuration } from '../src/core/duration.js';
import { resolvePaths } from '../src/core/paths.js';
import { stripControl } from '../src/core/text.js';
import { DevloginError, EXIT } from '../src/errors.js';

describe('durations', () => {
  it.each([['90', 90], ['90s', 90], ['15m', 900], ['1h', 3600], ['8H', 28800], [' 2m ', 120]])('parses %j as %i s', (text, seconds) => {
    expect(parseDuration(text, 'x')).toBe(seconds);
  });
  it.each(['', '1d', '-5', '1.5h', '0', 'h', '1h30m'])('refuses %j with exit 2', (text) => {
    expect(() => parseDuration(text, 'max session')).toThrow(expect.objectContaining({ exitCode: EXIT.usage }));
  });
  it('formats for people', () => {
    expect([45, 60, 90, 900, 3600, 5400].map(formatDuration)).toEqual(['45s', '1m', '1m 30s', '15m', '1h', '1h 30m']);
  });
});

describe('settings resolution: flag > environment > config.json > default, then ceilings and policy', () => {
  const profile = { issuer: 'https://profile.example', clientId: 'profile-client', scope: 'openid profile', maxSession: '2h' };
  const env = { DEVLOGIN_ISSUER: 'https://env.example', DEVLOGIN_CLIENT_ID: 'env-client', DEVLOGIN_SCOPE: 'openid env', DEVLOGIN_MAX_SESSION: '3h' };
  const resolve = (sources: Partial<LoginSources>) =>
    resolveLoginSettings({ flags: {}, env: {}, profileName: 'work', profile: {}, policy: null, ...sources });
  const policy = (rules: Record<string, unknown>) => parsePolicy(JSON.stringify(rules), '/etc/devlogin/policy.json');

  it('takes flags first', () => {
    expect(resolve({ flags: { issuer: 'https://flag.example', clientId: 'flag-client', scope: 'openid flag', maxSessionSeconds: 14400 }, env, profile }))
      .toEqual({
        preset: PRESETS.generic, issuer: 'https://flag.example', clientId: 'flag-client', scope: 'openid flag', audience: undefined,
        maxSessionSeconds: 14400, dpop: 'off', clientSecret: undefined, trustedVerificationHosts: [],
      });
  });
  it('then the environment', () => {
    expect(resolve({ env, profile })).toMatchObject({ issuer: 'https://env.example', clientId: 'env-client', scope: 'openid env', maxSessionSeconds: 10800 });
  });
  it('then the profile', () => {
    expect(resolve({ profile })).toMatchObject({ issuer: 'https://profile.example', clientId: 'profile-client', scope: 'openid profile', maxSessionSeconds: 7200 });
  });
  it('then the defaults: 1 h and the standard scopes', () => {
    expect(resolve({ profile: { issuer: 'https://p.example', clientId: 'c' } }))
      .toMatchObject({ scope: 'openid profile email offline_access', maxSessionSeconds: 3600, dpop: 'off' });
  });
  it('always asks for openid, first', () => {
    expect(normalizeScope('email  openid offline_access email')).toBe('openid email offline_access');
  });
  it('caps the max session at 12 h, naming where the longer value came from', () => {
    expect(resolve({ flags: { maxSessionSeconds: 43200 }, profile }).maxSessionSeconds).toBe(43200);
    expect(() => resolve({ flags: { maxSessionSeconds: 43201 }, profile })).toThrow('(--max-session) is longer than the 12h ceiling');
    expect(() => resolve({ env: { DEVLOGIN_MAX_SESSION: '13h' }, profile })).toThrow('(DEVLOGIN_MAX_SESSION) is longer than the 12h ceiling');
    expect(() => resolve({ profile: { ...profile, maxSession: '20h' } })).toThrow('(maxSession in config.json (profile "work")) is longer');
  });
  it('names the source of a duration that cannot be read', () => {
    expect(() => resolve({ env: { DEVLOGIN_MAX_SESSION: 'soon' }, profile })).toThrow('Invalid DEVLOGIN_MAX_SESSION "soon"');
    expect(() => resolve({ profile: { ...profile, maxSession: '1d' } })).toThrow('Invalid maxSession in config.json (profile "work") "1d"');
  });
  it('lets the policy lower the default, and refuses an explicit value above it, naming the rule and the source', () => {
    expect(resolve({ profile: { issuer: 'https://p.example', clientId: 'c' }, policy: policy({ maxSession: '30m' }) }).maxSessionSeconds).toBe(1800);
    expect(() => resolve({ flags: { maxSessionSeconds: 3600 }, profile, policy: policy({ maxSession: '30m' }) }))
      .toThrow('rule "maxSession"): sessions may last at most 30m, and 1h was asked for (--max-session).');
  });
  it('makes DPoP required under requireDpop, and refuses --no-dpop', () => {
    expect(resolve({ profile, policy: policy({ requireDpop: true }) }).dpop).toBe('require');
    expect(() => resolve({ flags: { dpop: 'off' }, profile, policy: policy({ requireDpop: true }) })).toThrow(expect.objectContaining({ exitCode: EXIT.usage, code: 'policy_requireDpop' }));
  });
  it('joins the profile\'s and the policy\'s trusted verification hosts', () => {
    expect(resolve({ profile: { ...profile, trustedVerificationHosts: ['a.example'] }, policy: policy({ trustedVerificationHosts: ['B.example'] }) }).trustedVerificationHosts)
      .toEqual(['a.example', 'b.example']);
  });
});

describe('config.json', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'devlogin-config-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('merges a saved profile without dropping what the user wrote', async () => {
    const paths = { configDir: dir, stateDir: dir };
    await writeFile(join(dir, 'config.json'), JSON.stringify({ profiles: { work: { maxSession: '30m' } } }));
    await saveProfile(paths, 'work', { issuer: 'https://i.example', clientId: 'c', scope: 'openid', audience: undefined });
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toEqual({ profiles: { work: { maxSession: '30m', issuer: 'https://i.example', clientId: 'c', scope: 'openid' } } });
  });

  it('saves the provider and --dpop, and --no-dpop (false) clears a saved dpop', async () => {
    const paths = { configDir: dir, stateDir: dir };
    await saveProfile(paths, 'work', { provider: 'okta', issuer: 'https://acme.okta.com', clientId: 'c', dpop: true });
    expect((await readConfig(paths)).profiles.work).toEqual({ provider: 'okta', issuer: 'https://acme.okta.com', clientId: 'c', dpop: true });
    await saveProfile(paths, 'work', { provider: 'okta', dpop: false });
    expect((await readConfig(paths)).profiles.work).toEqual({ provider: 'okta', issuer: 'https://acme.okta.com', clientId: 'c' });
    await writeFile(join(dir, 'config.json'), JSON.stringify({ profiles: { work: { dpop: 'yes' } } }));
    await expect(readConfig(paths)).rejects.toMatchObject({ exitCode: EXIT.usage, message: `"profiles.work.dpop" in ${join(dir, 'config.json')} must be true or false.` });
  });

  it('reports a broken config.json as exit 2 naming the file', async () => {
    await writeFile(join(dir, 'config.json'), '{ nope');
    const error = await readConfig({ configDir: dir, stateDir: dir }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DevloginError);
    expect(error).toMatchObject({ exitCode: EXIT.usage, message: `The config file ${join(dir, 'config.json')} is not valid JSON.` });
  });
});

describe('paths and text', () => {
  it('puts everything under DEVLOGIN_HOME, else the XDG folders', () => {
    expect(resolvePaths({ DEVLOGIN_HOME: '/h' }, '/home/u')).toEqual({ configDir: '/h', stateDir: '/h' });
    expect(resolvePaths({}, '/home/u')).toEqual({ configDir: '/home/u/.config/devlogin', stateDir: '/home/u/.local/state/devlogin' });
    expect(resolvePaths({ XDG_CONFIG_HOME: '/c', XDG_STATE_HOME: '/s' }, '/home/u')).toEqual({ configDir: '/c/devlogin', stateDir: '/s/devlogin' });
  });
  it('strips whole escape sequences, C0, C1, bidi, invisible, tag and line-separator characters', () => {
    expect(stripControl('a\u001b[2Jb\u0007c\u009b1md\u202ee\u0000f')).toBe('abcdef');
    expect(stripControl('x\u001b]52;c;aGVsbG8=\u0007y\u001b]8;;https://evil.example\u001b\\z\u001b]8;;\u001b\\')).toBe('xyz');
    expect(stripControl('p\u2028q\u2029r\u2060s\u061ct\u{e0041}u\u200bv\ufeffw\u00adx')).toBe('pqrstuvwx');
    expect(stripControl('Zoë 東京 ✓')).toBe('Zoë 東京 ✓');
  });
});

describe('the provider preset in settings', () => {
  const resolve = (sources: Partial<LoginSources>) =>
    resolveLoginSettings({ flags: {}, env: {}, profileName: 'work', profile: {}, policy: null, ...sources });

  it('takes --provider, then DEVLOGIN_PROVIDER, then the profile, then the issuer\'s host', () => {
    const profile = { provider: 'keycloak', issuer: 'https://sso.example/realms/r', clientId: 'c' };
    expect(resolve({ flags: { provider: 'Dex' }, env: { DEVLOGIN_PROVIDER: 'okta' }, profile: { ...profile, provider: 'dex' } }).preset.name).toBe('dex');
    expect(resolve({ env: { DEVLOGIN_PROVIDER: 'keycloak' }, profile }).preset.name).toBe('keycloak');
    expect(resolve({ profile }).preset.name).toBe('keycloak');
    expect(resolve({ flags: { issuer: 'https://acme.okta.com/oauth2/default', clientId: 'c' } }).preset.name).toBe('okta');
  });
  it('uses the preset\'s default issuer and scope, and not the profile\'s issuer of another provider', () => {
    const profile = { provider: 'keycloak', issuer: 'https://sso.example/realms/r', clientId: 'c' };
    expect(resolve({ flags: { provider: 'github' }, profile })).toMatchObject({ issuer: 'https://github.com', scope: 'read:user' });
    expect(resolve({ flags: { provider: 'gitlab', clientId: 'c' } })).toMatchObject({ issuer: 'https://gitlab.com', scope: 'openid profile email' });
    expect(() => resolve({ flags: { provider: 'okta', clientId: 'c' } })).toThrow('No issuer is configured, and okta has no default one.');
  });
  it('reads the secret from DEVLOGIN_CLIENT_SECRET only, and trusts Entra\'s microsoft.com verification page', () => {
    expect(resolve({ flags: { provider: 'google', clientId: 'c' }, env: { DEVLOGIN_CLIENT_SECRET: ' s3cret ' } }).clientSecret).toBe('s3cret');
    expect(resolve({ flags: { provider: 'entra', clientId: 'c' } }).trustedVerificationHosts).toEqual(['microsoft.com']);
  });
  it('takes --dpop from the profile, and lets --no-dpop override it', () => {
    const profile = { issuer: 'https://id.example', clientId: 'c', dpop: true };
    expect(resolve({ profile }).dpop).toBe('require');
    expect(resolve({ profile, flags: { dpop: 'off' } }).dpop).toBe('off');
    expect(resolve({ profile: { ...profile, dpop: undefined } }).dpop).toBe('off');
  });
});
