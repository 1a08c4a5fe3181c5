/**
 * Where the session's token may go (DESIGN.md "Commands"): the host rule on
 * its own, the apiHosts lists of config.json and of the policies, and `api`
 * enforcing it (exit 2 before any request, --allow-host, the audit event).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { readApiHosts, tokenHostRule } from '../src/core/hosts.js';
import { resolvePaths } from '../src/core/paths.js';
import { readPolicyFiles } from '../src/core/policy.js';
import { readAuditEvents } from './helpers/cli.js';
import { createHarness } from './helpers/harness.js';
import { startProvider } from './helpers/session.js';
import { signedIn } from './helpers/signed-in.js';

describe('the host rule', () => {
  it.each([
    ['https://login.example.com', 'git.example.com', 'issuer_site'],
    ['https://login.example.com', 'EXAMPLE.com:8443', 'issuer_site'],
    ['https://login.example.com', 'evil-example.com', undefined],
    ['https://login.example.com', 'example.com.evil.net', undefined],
    ['https://login.example.co.uk', 'api.example.co.uk', 'issuer_site'],
    ['https://login.example.co.uk', 'other.co.uk', undefined],
    // The Public Suffix List's private section: two customers of one platform are two sites.
    ['https://alice.github.io', 'bob.github.io', undefined],
    ['https://alice.github.io', 'alice.github.io:444', 'issuer_site'],
    // An IP address or a loopback name: the same host, on any port, and nothing else.
    ['http://127.0.0.1:4400', '127.0.0.1:9999', 'issuer_site'],
    ['http://127.0.0.1:4400', '127.0.0.2', undefined],
    ['http://127.0.0.1:4400', 'localhost', undefined],
    ['http://localhost:1', 'localhost:2', 'issuer_site'],
    ['http://localhost:1', 'evil.localhost', undefined],
    ['http://a.localhost:1', 'b.a.localhost', undefined],
    ['https://[::1]:1', '[::1]:2', 'issuer_site'],
    ['https://10.0.0.1', '10.0.0.10', undefined],
    // Not a host at all.
    ['https://login.example.com', 'user@example.com', undefined],
    ['https://login.example.com', 'example.com/path', undefined],
    ['https://login.example.com', '', undefined],
  ])('issuer %s, host %j: %s', (issuer, host, rule) => {
    expect(tokenHostRule(host, issuer, [])).toBe(rule);
  });

  it.each([
    ['www.googleapis.com', 'api_hosts'],
    ['googleapis.com', 'api_hosts'],
    ['notgoogleapis.com', undefined],
    ['googleapis.com.evil.net', undefined],
    ['graph.microsoft.com:443', 'api_hosts'],
    ['microsoft.com', undefined],
  ])('apiHosts [googleapis.com, graph.microsoft.com] let %j through: %s', (host, rule) => {
    expect(tokenHostRule(host, 'https://accounts.google.com', ['googleapis.com', 'GRAPH.microsoft.com'])).toBe(rule);
  });
});

describe('apiHosts from config.json and the policies', () => {
  it('adds the profile\'s, the administrator\'s policy\'s, the variable\'s policy\'s and the extra list; a variable policy never removes any', async () => {
    const h = await createHarness();
    const admin = join(h.home, 'admin-policy.json');
    const extra = join(h.home, 'extra-policy.json');
    await writeFile(admin, JSON.stringify({ apiHosts: ['Admin.example'] }));
    await writeFile(extra, JSON.stringify({ apiHosts: [] }));
    await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { work: { apiHosts: ['profile.example'] } } }));
    const env = { DEVLOGIN_POLICY: extra };
    expect((await readPolicyFiles(env, admin)).map((policy) => policy.apiHosts)).toEqual([['admin.example'], []]);
    await writeFile(extra, JSON.stringify({ apiHosts: ['variable.example'] }));
    expect((await readPolicyFiles(env, admin)).flatMap((policy) => policy.apiHosts)).toEqual(['admin.example', 'variable.example']);
    // No policy at all, and the one file named twice.
    expect(await readPolicyFiles({}, join(h.home, 'none.json'))).toEqual([]);
    expect(await readPolicyFiles({ DEVLOGIN_POLICY: admin }, admin)).toHaveLength(1);
    const paths = resolvePaths(h.env, h.home);
    expect(await readApiHosts({ paths, env: { DEVLOGIN_POLICY: extra } }, 'work', ['preset.example'])).toEqual(['profile.example', 'variable.example', 'preset.example']);
    expect(await readApiHosts({ paths, env: {} }, 'other')).toEqual([]);
  });

  it('a list that is not a list of strings is exit 2 naming the file and the field', async () => {
    const h = await createHarness();
    await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { default: { apiHosts: 'example.com' } } }));
    const result = await h.run(['api', 'https://example.com/']);
    expect(result).toMatchObject({ code: 2, stdout: '', stderr: `devlogin: "profiles.default.apiHosts" in ${join(h.home, 'config.json')} must be a list of host names.\n` });
    const policy = join(h.home, 'policy.json');
    await writeFile(policy, JSON.stringify({ apiHosts: [1] }));
    await expect(readPolicyFiles({ DEVLOGIN_POLICY: policy }, join(h.home, 'none.json'))).rejects.toThrow(`The devlogin policy ${policy} "apiHosts" must be a list of strings.`);
  });
});

describe('api sends the token only where the host rule lets it', () => {
  /** 30 s tokens: the first use would refresh, so a refusal must come before it. */
  let provider: LocalProvider;
  beforeAll(async () => {
    provider = await startProvider({ accessTokenTtl: 30 });
  });
  afterAll(async () => provider.close());

  /** Requests to *.test hosts are answered here (in-process) and recorded; the rest go to the real provider. */
  const recorder = () => {
    const seen: { url: string; authorization: string | null }[] = [];
    const fetcher = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (!url.hostname.endsWith('.test')) return fetch(input, init);
      seen.push({ url: url.href, authorization: new Headers(init?.headers).get('authorization') });
      return new Response('{"ok":true}', { headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
    return { seen, fetcher };
  };
  const refusal = (host: string) =>
    `devlogin: Refusing to send the session's token to ${host}: it is not on the issuer's site (127.0.0.1) nor in apiHosts. Pass --allow-host ${host} to send it there anyway (recorded in the audit log), or list the host in "apiHosts".\n`;

  it('refuses another host with exit 2 before any request (not even the refresh), and --allow-host lets that one host through, audited', async () => {
    const { h } = await signedIn(provider);
    const { seen, fetcher } = recorder();
    const tokenRequests = provider.requests.get('/token');
    const refused = await h.run(['api', 'https://elsewhere.test/x'], { fetch: fetcher });
    expect(refused).toMatchObject({ code: 2, stdout: '', stderr: refusal('elsewhere.test') });
    const wrongAllow = await h.run(['api', '--allow-host', 'other.test', 'https://elsewhere.test/x'], { fetch: fetcher });
    expect(wrongAllow).toMatchObject({ code: 2, stdout: '', stderr: refusal('elsewhere.test') });
    expect(seen).toEqual([]);
    expect(provider.requests.get('/token')).toBe(tokenRequests);
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login']);

    const allowed = await h.run(['api', '--allow-host', 'ELSEWHERE.test', 'https://elsewhere.test/x'], { fetch: fetcher });
    expect(allowed).toMatchObject({ code: 0, stdout: '{"ok":true}', stderr: '' });
    const token = provider.issued.at(-1)!.access_token!; // refreshed first: the sign-in's token had 30 s left
    expect(seen).toEqual([{ url: 'https://elsewhere.test/x', authorization: `Bearer ${token}` }]);
    const events = await readAuditEvents(h);
    expect(events.map((event) => event.event)).toEqual(['login', 'refresh', 'token_read']);
    expect(events.at(-1)).toMatchObject({ event: 'token_read', command: 'api', host: 'elsewhere.test', hostRule: 'allow_host', outcome: 'success' });
    expect(JSON.stringify(events)).not.toContain(token);

    expect(await h.run(['api', '--allow-host', 'a b', 'https://elsewhere.test/x'])).toMatchObject({ code: 2, stderr: 'devlogin: --allow-host "a b" is not a host name.\n' });
  });

  it('sends it to the issuer\'s own host on another port, and to the hosts config.json or the policy lists', async () => {
    const { h } = await signedIn(provider);
    const { seen, fetcher } = recorder();
    const config = join(h.home, 'config.json');
    const saved = JSON.parse(await readFile(config, 'utf8')) as { profiles: Record<string, Record<string, unknown>> };
    saved.profiles.default!.apiHosts = ['profile.test'];
    await writeFile(config, JSON.stringify(saved));
    const policy = join(h.home, 'policy.json');
    await writeFile(policy, JSON.stringify({ apiHosts: ['policy.test'] }));

    expect(await h.run(['api', 'https://api.profile.test/me'], { fetch: fetcher })).toMatchObject({ code: 0, stdout: '{"ok":true}' });
    expect(await h.run(['api', 'https://policy.test/'], { fetch: fetcher, env: { DEVLOGIN_POLICY: policy } })).toMatchObject({ code: 0, stdout: '{"ok":true}' });
    expect(await h.run(['api', 'https://policy.test/'], { fetch: fetcher })).toMatchObject({ code: 2, stderr: refusal('policy.test') });
    const me = await h.run(['api', `${provider.issuer}/me`]);
    expect(me.code, me.stderr).toBe(0);
    expect(seen.map((request) => request.url)).toEqual(['https://api.profile.test/me', 'https://policy.test/']);
    const reads = (await readAuditEvents(h)).filter((event) => event.event === 'token_read');
    expect(reads.map((event) => [event.host, event.hostRule])).toEqual([['api.profile.test', 'api_hosts'], ['policy.test', 'api_hosts'], ['127.0.0.1', 'issuer_site']]);
  });
});
