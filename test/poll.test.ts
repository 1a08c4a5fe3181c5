/**
 * RFC 8628 §3.5 polling against a hand-written provider, with a virtual
 * clock: sleep() records what it was asked to wait and advances the clock, so
 * the intervals are measured exactly instead of raced on the wall clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DevloginError, EXIT } from '../src/errors.js';
import { discoverProvider } from '../src/core/oidc/discovery.js';
import { pollForTokens, requestDeviceAuthorization, type PollNotice } from '../src/core/oidc/device-flow.js';
import { startFakeProvider, type FakeProvider, type FakeProviderScript, type Reply } from './helpers/fake-provider.js';

const pending: Reply = { status: 400, json: { error: 'authorization_pending' } };
const slowDown: Reply = { status: 400, json: { error: 'slow_down' } };
const success: Reply = { tokens: {} };

let fake: FakeProvider | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function poll(script: FakeProviderScript, options: { abortAfterSleeps?: number } = {}) {
  fake = await startFakeProvider(script);
  let clock = 1_000_000;
  const sleeps: number[] = [];
  const notices: PollNotice[] = [];
  const controller = new AbortController();
  const config = await discoverProvider(fake.issuer, fake.clientId, { fetch: (url, init) => fetch(url, init), timeoutSeconds: 5 });
  const authorization = await requestDeviceAuthorization(config, { scope: 'openid', issuer: fake.issuer, now: () => clock });
  const outcome = await pollForTokens(config, authorization, {
    issuer: fake.issuer,
    signal: controller.signal,
    now: () => clock,
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      if (options.abortAfterSleeps !== undefined && sleeps.length > options.abortAfterSleeps) controller.abort();
      if (signal.aborted) throw signal.reason;
      clock += ms;
    },
    onNotice: (notice) => notices.push(notice),
  }).then((value) => ({ value }), (error: unknown) => ({ error }));
  return { ...outcome, sleeps, notices, polls: fake.tokenRequests.length, fake };
}

function exitOf(error: unknown): number | undefined {
  return error instanceof DevloginError ? error.exitCode : undefined;
}

describe('polling the token endpoint (RFC 8628 §3.5)', () => {
  it('waits the interval between polls and sends the device code', async () => {
    const result = await poll({ device: { interval: 3 }, token: [pending, pending, success] });
    expect(result.sleeps).toEqual([3300, 3300, 3300]);
    expect(result.fake.tokenRequests.map((r) => r.body.get('grant_type'))).toEqual(Array(3).fill('urn:ietf:params:oauth:grant-type:device_code'));
    expect(result.fake.tokenRequests[0]!.body.get('device_code')).toBe('fake-device-code-0123456789');
    expect(result.fake.tokenRequests[0]!.body.get('client_id')).toBe('fake-client');
    expect('value' in result && result.value.access_token).toMatch(/^fake-access-/);
  });

  it('uses 5 s when the provider sends no interval', async () => {
    const result = await poll({ device: { interval: undefined }, token: [pending, success] });
    expect(result.sleeps).toEqual([5500, 5500]);
  });

  it('adds 5 s for every slow_down, for all later polls', async () => {
    const result = await poll({ device: { interval: 2 }, token: [pending, slowDown, pending, slowDown, pending, success] });
    expect(result.sleeps).toEqual([2250, 2250, 7700, 7700, 13200, 13200]);
    expect(result.notices).toEqual([{ kind: 'slow_down', intervalSeconds: 7 }, { kind: 'slow_down', intervalSeconds: 12 }]);
    expect(result.polls).toBe(6);
  });

  it('retries 5xx answers and dropped connections with doubling back-off, then succeeds', async () => {
    const result = await poll({
      device: { interval: 2 },
      token: [
        { status: 502, body: '<html>Bad gateway</html>', headers: { 'content-type': 'text/html' } },
        { status: 503, json: { error: 'temporarily_unavailable' } },
        'hangup',
        pending,
        success,
      ],
    });
    expect('value' in result).toBe(true);
    expect(result.sleeps).toEqual([2250, 4250, 8250, 16250, 2250]);
    expect(result.notices.map((n) => n.kind === 'retry' && n.reason)).toEqual(['HTTP 502', 'HTTP 503', 'no answer from the provider']);
  });

  it('honours Retry-After on a 503', async () => {
    const result = await poll({ device: { interval: 1 }, token: [{ status: 503, body: 'busy', headers: { 'retry-after': '9' } }, success] });
    expect(result.sleeps).toEqual([1250, 9250]);
  });

  it('stops with exit 5 when the user denies', async () => {
    const result = await poll({ token: [pending, { status: 400, json: { error: 'access_denied' } }] });
    expect(exitOf('error' in result ? result.error : undefined)).toBe(EXIT.signInNotCompleted);
    expect((result as { error: DevloginError }).error.message).toBe('The sign-in was denied.');
  });

  it('stops with exit 5 when the provider says the code expired', async () => {
    const result = await poll({ token: [{ status: 400, json: { error: 'expired_token' } }] });
    expect((result as { error: DevloginError }).error).toMatchObject({ exitCode: EXIT.signInNotCompleted, code: 'expired_token' });
  });

  it('gives up by itself when expires_in has passed, without a poll after the deadline', async () => {
    const result = await poll({ device: { interval: 5, expires_in: 12 }, token: [pending] });
    expect(result.sleeps).toEqual([5500, 5500, 1000]);
    expect(result.polls).toBe(2);
    expect((result as { error: DevloginError }).error).toMatchObject({ exitCode: EXIT.signInNotCompleted, code: 'expired_token' });
  });

  it('keeps retrying 5xx only until the code expires, then reports the provider (exit 7)', async () => {
    const result = await poll({ device: { interval: 5, expires_in: 30 }, token: [{ status: 500, body: 'oops' }] });
    expect(result.sleeps).toEqual([5500, 10500, 14000]);
    const error = (result as { error: DevloginError }).error;
    expect(error.exitCode).toBe(EXIT.provider);
    expect(error.message).toMatch(/^The code expired while the provider kept failing: The provider answered HTTP 500 at the token endpoint/);
  });

  it('a pending answer after failures makes expiry the user\'s again (exit 5)', async () => {
    const result = await poll({ device: { interval: 5, expires_in: 30 }, token: [{ status: 500, body: 'oops' }, pending] });
    expect(exitOf((result as { error: unknown }).error)).toBe(EXIT.signInNotCompleted);
  });

  it('stops at once with exit 130 when interrupted', async () => {
    const result = await poll({ token: [pending] }, { abortAfterSleeps: 2 });
    expect(exitOf((result as { error: unknown }).error)).toBe(EXIT.interrupted);
    expect(result.polls).toBe(2);
  });

  it('treats an unknown OAuth error as a provider error (exit 7)', async () => {
    const result = await poll({ token: [{ status: 400, json: { error: 'invalid_client', error_description: 'no\u001b[2J such client' } }] });
    const error = (result as { error: DevloginError }).error;
    expect(error.exitCode).toBe(EXIT.provider);
    expect(error.message).toBe('The provider refused the token request (invalid_client: no such client).');
  });

  it('rejects a malformed token response with exit 7', async () => {
    const result = await poll({ token: [{ status: 200, body: '{"access_token": ', headers: { 'content-type': 'application/json' } }] });
    expect((result as { error: DevloginError }).error).toMatchObject({ exitCode: EXIT.provider, code: 'malformed_response' });
  });
});

describe('what every provider gets, preset or not (PROVIDERS.md §4)', () => {
  it('takes the provider\'s new interval from slow_down when it is more than 5 s added (GitHub)', async () => {
    const result = await poll({ device: { interval: 1 }, token: [{ status: 200, json: { error: 'slow_down', interval: 10 } }, pending, success] });
    expect(result.notices).toEqual([{ kind: 'slow_down', intervalSeconds: 10 }]);
    expect(result.sleeps).toEqual([1250, 11000, 11000]);
    expect((result as { value?: unknown }).value).toMatchObject({ access_token: expect.stringMatching(/^fake-access-/) });
  });

  it('reads pending from error whatever the status: 200 (GitHub), 428 (Google), 403 (Auth0), 401 (Dex)', async () => {
    const answers: Reply[] = [200, 428, 403, 401].map((status) => ({ status, json: { error: 'authorization_pending' } }));
    const result = await poll({ device: { interval: 1 }, token: [...answers, success] });
    expect(result.polls).toBe(5);
    expect(result.notices).toEqual([]);
    expect((result as { value?: unknown }).value).toMatchObject({ token_type: 'bearer' });
  });

  it('slow_down as 429 (Auth0) is slow_down, not a transient failure', async () => {
    const result = await poll({ device: { interval: 1 }, token: [{ status: 429, json: { error: 'slow_down' } }, success] });
    expect(result.notices).toEqual([{ kind: 'slow_down', intervalSeconds: 6 }]);
  });

  it('never polls faster than once a second, whatever the interval says', async () => {
    const result = await poll({ device: { interval: 0 }, token: [pending, success] });
    expect(result.sleeps).toEqual([1250, 1250]);
  });

  it('reads form bodies, JSON sent as text/plain, numbers as strings and the verification_url alias', async () => {
    const form = 'error=authorization_pending&error_description=The+authorization+request+is+still+pending.';
    const result = await poll({
      device: { interval: '2', expires_in: '600', verification_uri: undefined, verification_url: 'http://127.0.0.1:1/device' },
      token: [
        { status: 200, body: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        { status: 401, body: '{\n   "error": "authorization_pending"\n}\n', headers: { 'content-type': 'text/plain; charset=utf-8' } },
        success,
      ],
    });
    expect(result.sleeps).toEqual([2250, 2250, 2250]);
    expect((result as { value?: unknown }).value).toMatchObject({ access_token: expect.stringMatching(/^fake-access-/) });
  });

  it('authorization_declined (Entra) is a denial: exit 5', async () => {
    const result = await poll({ token: [{ status: 400, json: { error: 'authorization_declined' } }] });
    expect((result as { error: DevloginError }).error).toMatchObject({ exitCode: EXIT.signInNotCompleted, code: 'access_denied', message: 'The sign-in was denied.' });
  });

  it('invalid_grant at the end of the code\'s life (Auth0 after its one expired_token) is expiry: exit 5', async () => {
    const result = await poll({ device: { interval: 5, expires_in: 10 }, token: [{ status: 403, json: { error: 'invalid_grant' } }] });
    expect((result as { error: DevloginError }).error).toMatchObject({ exitCode: EXIT.signInNotCompleted, code: 'expired_token' });
  });

  it('invalid_grant early in the code\'s life stays a provider error with its description: exit 7', async () => {
    const result = await poll({ token: [{ status: 400, json: { error: 'invalid_grant', error_description: 'Device code not valid' } }] });
    expect((result as { error: DevloginError }).error).toMatchObject({ exitCode: EXIT.provider, message: 'The provider refused the token request (invalid_grant: Device code not valid).' });
  });

  it('trusts error over access_token in one 200 body', async () => {
    const result = await poll({ device: { interval: 1 }, token: [{ status: 200, json: { error: 'authorization_pending', access_token: 'not-yet' } }, success] });
    expect(result.polls).toBe(2);
    expect((result as { value?: unknown }).value).toMatchObject({ access_token: expect.stringMatching(/^fake-access-/) });
  });

  it('reads Google\'s quota answer from error_code, and fails with it: exit 7', async () => {
    const result = await poll({ token: [{ status: 403, json: { error_code: 'rate_limit_exceeded' } }] });
    expect((result as { error: DevloginError }).error).toMatchObject({ exitCode: EXIT.provider, code: 'rate_limit_exceeded' });
  });
});
