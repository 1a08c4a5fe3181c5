/**
 * DPoP (RFC 9449) end to end against the real local provider: the tokens are
 * bound to the session's key, refresh and api send proofs, and the bare token
 * is useless as a Bearer token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { runCli, useTempHomes } from './helpers/cli.js';
import { introspect, signIn, startProvider } from './helpers/session.js';

let provider: LocalProvider;
const home = useTempHomes();
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  await provider.close();
});

describe('DPoP-bound sessions', () => {
  it('binds the tokens by default when the provider offers DPoP; api works, a plain Bearer is rejected', async () => {
    const h = await home();
    const before = provider.issued.length;
    const run = await signIn(provider, h);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n')[1]!)).toMatchObject({ dpop_bound: true });
    const { access_token: accessToken } = provider.issued.slice(before).at(-1)!;

    const bound = await introspect(provider, accessToken!);
    expect(bound).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: expect.stringMatching(/^[\w-]{43}$/) } });

    const api = await runCli(['api', `${provider.issuer}/me`], h.env);
    expect(api.code).toBe(0);
    expect(JSON.parse(api.stdout)).toMatchObject({ sub: 'alice', email: 'alice@example.test' });

    const plain = await fetch(`${provider.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } });
    expect(plain.status).toBe(401);
    const asDpopWithoutProof = await fetch(`${provider.issuer}/me`, { headers: { authorization: `DPoP ${accessToken}` } });
    expect(asDpopWithoutProof.status).toBe(400);

    const token = await runCli(['token'], h.env);
    expect(token).toMatchObject({ code: 2, stdout: '' });
    expect(token.stderr).toBe('devlogin: This session\'s access token is bound to a DPoP key (RFC 9449) and is useless as a plain Bearer token. Use "devlogin api URL" to call APIs with it, or sign in with --no-dpop to get a Bearer token.\n');
    expect((await runCli(['exec', '--', 'true'], h.env)).code).toBe(2);

    // Refresh with a proof: the new token is bound to the same key.
    const refreshed = await runCli(['api', '--min-ttl', '3600', `${provider.issuer}/me`], h.env);
    expect(refreshed.code).toBe(0);
    const { access_token: newToken } = provider.issued.at(-1)!;
    expect(newToken).not.toBe(accessToken);
    expect((await introspect(provider, newToken!)).cnf).toEqual(bound.cnf);
    expect((await runCli(['whoami', '--online', '--json'], h.env)).stdout).toContain('"dpop_bound":true');

    // Revocation carries a proof too, and the bound refresh token ends.
    const { refresh_token: refreshToken } = provider.issued.at(-1)!;
    const revoked = await runCli(['revoke'], h.env);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stderr).toContain('revoked, confirmed by the provider');
    expect(String(provider.lastHeaders.get('/token/revocation')?.dpop)).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    expect((await introspect(provider, refreshToken!)).active).toBe(false);
  });

  it('api sends a body and headers, and exits 7 on a non-2xx answer', async () => {
    const h = await home();
    expect((await signIn(provider, h)).code).toBe(0);
    // userinfo accepts a form POST; a JSON body (the default type for JSON data) it refuses.
    const post = await runCli(['api', '-X', 'POST', '-H', 'Content-Type: application/x-www-form-urlencoded', '-d', 'claims=', `${provider.issuer}/me`], h.env);
    expect(post.code, post.stderr).toBe(0);
    expect(JSON.parse(post.stdout)).toMatchObject({ sub: 'alice' });
    const json = await runCli(['api', '-d', '{"x":1}', `${provider.issuer}/me`], h.env);
    expect(json.code).toBe(7);
    expect(json.stderr.trimEnd().split('\n').at(-1)).toBe(`devlogin: HTTP 400 from POST ${provider.issuer}/me.`);
    const missing = await runCli(['api', `${provider.issuer}/nothing-here`], h.env);
    expect(missing.code).toBe(7);
    expect(missing.stderr.trimEnd().split('\n').at(-1)).toBe(`devlogin: HTTP 404 from GET ${provider.issuer}/nothing-here.`);
    expect(await runCli(['api', 'http://example.com/'], h.env)).toMatchObject({ code: 2, stderr: "devlogin: Refusing to send the session's token to http://example.com: not HTTPS.\n" });
    expect(await runCli(['api', '-H', 'Authorization: x', `${provider.issuer}/me`], h.env)).toMatchObject({ code: 2, stderr: 'devlogin: The Authorization header is set by devlogin.\n' });
  });

  it('--no-dpop gets a Bearer token that token and exec hand out', async () => {
    const h = await home();
    const before = provider.issued.length;
    expect((await signIn(provider, h, { args: ['--no-dpop'] })).code).toBe(0);
    const { access_token: accessToken } = provider.issued.slice(before).at(-1)!;
    expect(await introspect(provider, accessToken!)).not.toHaveProperty('cnf');
    expect((await runCli(['token'], h.env)).stdout).toBe(`${accessToken}\n`);
  });

  it('--dpop fails with exit 7 when the provider does not offer DPoP, before showing a code', async () => {
    const plain = await startProvider({ dpop: false });
    try {
      const h = await home();
      const result = await runCli(['login', '--dpop', '--json', '--issuer', plain.issuer, '--client-id', plain.clientId], h.env);
      expect(result.code).toBe(7);
      expect(result.stdout).toBe('');
      expect(result.stderr.trimEnd().split('\n').at(-1)).toBe(`devlogin: The provider ${plain.issuer} does not support DPoP (no usable dpop_signing_alg_values_supported), and DPoP is required. Sign in without --dpop, or ask the provider to enable DPoP (RFC 9449).`);
      expect(plain.requests.get('/device/auth') ?? 0).toBe(0);
    } finally {
      await plain.close();
    }
  });
});
