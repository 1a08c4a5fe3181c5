/**
 * Property-based tests (fast-check) of everything that reads outside input:
 * provider responses (through the fetch seam), config.json, the policy file,
 * vault files, durations, the audit log. Whatever the input, the outcome is a
 * value or a DevloginError with a documented exit code: never a crash.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readConfig } from '../src/core/config.js';
import { parseDuration } from '../src/core/duration.js';
import { discoverProvider } from '../src/core/oidc/discovery.js';
import { pollForTokens, requestDeviceAuthorization } from '../src/core/oidc/device-flow.js';
import { translateOidcError } from '../src/core/oidc/errors.js';
import { parsePolicy } from '../src/core/policy.js';
import { isoTime, stripControl } from '../src/core/text.js';
import { parseEnvelope } from '../src/core/vault/envelope.js';
import { createVault } from '../src/core/vault/vault.js';
import { DevloginError, EXIT } from '../src/errors.js';
import { createHarness } from './helpers/harness.js';

const DOCUMENTED = new Set<number>([EXIT.usage, EXIT.notSignedIn, EXIT.sessionEnded, EXIT.signInNotCompleted, EXIT.vault, EXIT.provider, EXIT.interrupted]);
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Runs fn; a failure must be a DevloginError with one of `allowed` exit codes. */
async function settles<T>(fn: () => Promise<T> | T, allowed: ReadonlySet<number> = DOCUMENTED): Promise<T | DevloginError> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof DevloginError)) throw new Error(`not a DevloginError: ${String(err)}`, { cause: err });
    if (!allowed.has(err.exitCode)) throw new Error(`undocumented exit ${err.exitCode}: ${err.message}`);
    expect(err.message).not.toMatch(/\n/);
    return err;
  }
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'devlogin-props-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Anything a server could send: JSON values, near-JSON text, any status and content type. */
const body = fc.oneof(
  fc.json(),
  fc.string(),
  fc.jsonValue().map((value) => JSON.stringify(value)),
  fc.dictionary(fc.constantFrom('device_code', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval', 'access_token', 'token_type', 'id_token', 'expires_in', 'refresh_token', 'scope', 'error', 'error_description', 'issuer', 'token_endpoint', 'jwks_uri', 'device_authorization_endpoint'),
    fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.webUrl(), fc.boolean())).map((value) => JSON.stringify(value)),
);
const response = fc.record({
  status: fc.constantFrom(200, 200, 200, 201, 204, 400, 401, 403, 404, 429, 500, 502, 503),
  type: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/html', 'text/plain', ''),
  body,
});
const fetchAnswering = (answer: { status: number; type: string; body: string }): client.CustomFetch => async () =>
  new Response([204].includes(answer.status) ? null : answer.body, { status: answer.status, headers: answer.type ? { 'content-type': answer.type } : {} });

const ISSUER = 'https://login.example.test';
const metadata: client.ServerMetadata = {
  issuer: ISSUER,
  token_endpoint: `${ISSUER}/token`,
  device_authorization_endpoint: `${ISSUER}/device`,
  jwks_uri: `${ISSUER}/jwks`,
  id_token_signing_alg_values_supported: ['ES256'],
};
function configAnswering(answer: { status: number; type: string; body: string }): client.Configuration {
  const config = new client.Configuration(metadata, 'cli', undefined, client.None());
  client.enableNonRepudiationChecks(config);
  config[client.customFetch] = fetchAnswering(answer);
  return config;
}

describe('provider responses', () => {
  it('discovery: any answer is a configuration or exit 7', async () => {
    await fc.assert(fc.asyncProperty(response, async (answer) => {
      const outcome = await settles(() => discoverProvider(ISSUER, 'cli', { fetch: fetchAnswering(answer), timeoutSeconds: 5 }), new Set([EXIT.provider]));
      if (!(outcome instanceof DevloginError)) expect(outcome.serverMetadata().issuer).toBe(ISSUER);
    }), { numRuns: 150 });
  });

  it('device authorization: any answer is exit 7 or a code with no control characters', async () => {
    await fc.assert(fc.asyncProperty(response, async (answer) => {
      const outcome = await settles(() => requestDeviceAuthorization(configAnswering(answer), { scope: 'openid', issuer: ISSUER, now: () => 0 }), new Set([EXIT.provider]));
      if (!(outcome instanceof DevloginError)) {
        for (const text of [outcome.userCode, outcome.verificationUri, outcome.verificationUriComplete ?? '']) expect(text).not.toMatch(CONTROL);
        expect(outcome.intervalSeconds).toBeGreaterThan(0);
      }
    }), { numRuns: 200 });
  });

  it('token polling: any answer is tokens, exit 5 or exit 7, within the deadline', async () => {
    await fc.assert(fc.asyncProperty(response, async (answer) => {
      let clock = 0;
      let sleeps = 0;
      const outcome = await settles(() => pollForTokens(configAnswering(answer), {
        deviceCode: 'dc', userCode: 'A', verificationUri: `${ISSUER}/d`, verificationUriComplete: undefined, expiresAt: 30_000, intervalSeconds: 5,
      }, {
        issuer: ISSUER,
        signal: new AbortController().signal,
        now: () => clock,
        sleep: async (ms) => {
          sleeps += 1;
          clock += ms;
        },
      }), new Set([EXIT.signInNotCompleted, EXIT.provider]));
      expect(sleeps).toBeLessThanOrEqual(6);
      if (!(outcome instanceof DevloginError)) expect(typeof outcome.access_token).toBe('string');
    }), { numRuns: 200 });
  });

  it('error translation survives values that String() cannot convert (found by the property below)', () => {
    for (const thrown of [{ toString: [] }, Object.create(null), { [Symbol.toPrimitive]: () => ({}) }]) {
      const error = translateOidcError(thrown, 'token', ISSUER);
      expect(error.exitCode).toBe(EXIT.provider);
      expect(error.message).toBe(`The token request to ${ISSUER} failed: [object Object].`);
    }
  });

  it('error translation: anything thrown becomes a documented exit code', async () => {
    await fc.assert(fc.asyncProperty(fc.anything(), async (thrown) => {
      const error = translateOidcError(thrown, 'token', ISSUER);
      expect(DOCUMENTED.has(error.exitCode)).toBe(true);
    }), { numRuns: 200 });
  });
});

describe('local files', () => {
  it('config.json: any content is a config or exit 2', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.json()), async (text) => {
      await writeFile(join(dir, 'config.json'), text);
      await settles(() => readConfig({ configDir: dir, stateDir: dir }), new Set([EXIT.usage]));
    }), { numRuns: 200 });
  });

  it('policy: any content is a policy or exit 2 (fails closed)', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.json(), fc.dictionary(fc.constantFrom('maxSession', 'allowedIssuers', 'requireDpop', 'allowPassphraseVault', 'allowedScopes', 'trustedVerificationHosts'), fc.jsonValue()).map((v) => JSON.stringify(v))), async (text) => {
      await settles(() => parsePolicy(text, '/etc/devlogin/policy.json'), new Set([EXIT.usage]));
    }), { numRuns: 300 });
  });

  it('vault files: any content is no session or exit 6, never a crash', async () => {
    const paths = { configDir: dir, stateDir: dir };
    await mkdir(join(dir, 'sessions'), { recursive: true });
    const vault = createVault({ paths, env: { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'p', DEVLOGIN_VAULT_KEY: 'A'.repeat(43), DEVLOGIN_KEYCHAIN_SERVICE: 'devlogin-test-properties' } });
    const envelopeLike = fc.record({
      format: fc.constantFrom('devlogin-session', 'x'), version: fc.constantFrom(1, 2), backend: fc.constantFrom('passphrase', 'keychain', 'kernel', 'key', 'other'),
      meta: fc.record({ profile: fc.constantFrom('default', 'x'), sessionId: fc.string(), issuer: fc.string(), clientId: fc.string(), subject: fc.string(), createdAt: fc.integer(), sessionExpiresAt: fc.integer(), accessTokenExpiresAt: fc.option(fc.integer()) }),
      session: fc.record({ alg: fc.constantFrom('A256GCM', 'none'), iv: fc.base64String(), tag: fc.base64String(), data: fc.base64String() }),
      wrappedKey: fc.record({ alg: fc.constant('A256GCM'), iv: fc.base64String(), tag: fc.base64String(), data: fc.base64String(), kdf: fc.oneof(
        fc.record({ kdf: fc.constant('scrypt'), N: fc.constantFrom(2, 1024, 3, 2 ** 30), r: fc.integer({ min: -1, max: 64 }), p: fc.integer({ min: -1, max: 32 }), salt: fc.base64String() }),
        fc.record({ kdf: fc.constant('hkdf-sha256'), salt: fc.base64String(), info: fc.string() }),
      ) }),
    }, { requiredKeys: [] }).map((value) => JSON.stringify(value));
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.json(), envelopeLike), async (text) => {
      expect(() => parseEnvelope(text)).not.toThrow();
      await writeFile(join(dir, 'sessions', 'default.json.enc'), text);
      const outcome = await settles(() => vault.load('default'), new Set([EXIT.vault]));
      expect(outcome).toBeInstanceOf(DevloginError); // nothing here is a valid sealed session
      await settles(() => vault.readMeta('default'), new Set([EXIT.vault]));
    }), { numRuns: 200 });
  });

  it('durations: any text is seconds > 0 or exit 2', async () => {
    await fc.assert(fc.asyncProperty(fc.oneof(fc.string(), fc.stringMatching(/^\d{0,12}[smhd]?$/)), async (text) => {
      const outcome = await settles(() => parseDuration(text, 'x'), new Set([EXIT.usage]));
      if (typeof outcome === 'number') expect(outcome).toBeGreaterThan(0);
    }), { numRuns: 300 });
  });

  it('the audit log: any content is shown without control characters, never a crash', async () => {
    const h = await createHarness();
    await fc.assert(fc.asyncProperty(fc.array(fc.oneof(fc.string(), fc.json(), fc.record({ time: fc.string(), event: fc.string(), profile: fc.string(), outcome: fc.string(), subject: fc.string(), reason: fc.string() }).map((v) => JSON.stringify(v)))), async (lines) => {
      await writeFile(join(h.home, 'audit.log'), lines.join('\n'));
      const result = await h.run(['audit', '--limit', '50']);
      expect(result.code).toBe(EXIT.ok);
      expect(result.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    }), { numRuns: 150 });
  });

  it('stripControl leaves no control character and is idempotent', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (text) => {
      const clean = stripControl(text);
      expect(clean).not.toMatch(CONTROL);
      expect(stripControl(clean)).toBe(clean);
    }), { numRuns: 500 });
  });

  it('isoTime prints what Date#toISOString does, for every time a Date can hold, and refuses an invalid one alike', () => {
    const edges = [0, -1, 1, 253402300799999, 253402300800000, -62167219200000, -62167219200001, 8.64e15, -8.64e15, 951782400000, 1e12 + 0.5];
    for (const ms of edges) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
    fc.assert(fc.property(fc.integer({ min: -8.64e15, max: 8.64e15 }), (ms) => {
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }), { numRuns: 2000 });
    for (const bad of [Number.NaN, 8.64e15 + 1, Infinity]) expect(() => isoTime(bad)).toThrow(RangeError);
  });
});
