/**
 * Least privilege per use (token/api --scope, RFC 6749 §6), audit lines that
 * cannot be forged, and audit events forwarded to a syslog collector on
 * loopback (DEVLOGIN_AUDIT_SYSLOG), in-process against the real provider.
 */
import { createSocket } from 'node:dgram';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { formatRfc5424 } from '../src/core/audit-forward.js';
import { findLeaks, readAuditEvents } from './helpers/cli.js';
import { startFakeProvider } from './helpers/fake-provider.js';
import { createHarness } from './helpers/harness.js';
import { introspect, startProvider } from './helpers/session.js';
import { lastLine, signedIn } from './helpers/signed-in.js';

let provider: LocalProvider;
beforeAll(async () => {
  provider = await startProvider();
});
afterAll(async () => {
  await provider.close();
});

const tokenRequests = () => provider.requests.get('/token') ?? 0;

describe('token --scope: a token narrowed to fewer scopes, for one use', () => {
  it('gets a token whose scope is exactly the one asked for, keeps the full session working, and reuses the narrow token', async () => {
    const { h, refreshToken } = await signedIn(provider);
    const before = tokenRequests();
    const narrow = await h.run(['token', '--scope', 'profile openid', '--json']);
    expect(narrow.code, narrow.stderr).toBe(0);
    expect(narrow.stderr).toBe('');
    const answer = JSON.parse(narrow.stdout) as Record<string, string>;
    expect(answer).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_at: expect.any(String), scope: 'openid profile' });
    expect(tokenRequests()).toBe(before + 1);
    const seen = await introspect(provider, answer.access_token!);
    expect(seen.active).toBe(true);
    expect(String(seen.scope).split(' ').sort()).toEqual(['openid', 'profile']);
    // The refresh token the provider rotated in that request is the session's now.
    expect((await introspect(provider, refreshToken!)).active).toBe(false);

    const again = await h.run(['token', '--scope', 'openid profile']);
    expect(again).toMatchObject({ code: 0, stdout: `${answer.access_token}\n` });
    expect(tokenRequests()).toBe(before + 1); // same scopes, any order: the sealed narrow token

    const full = await h.run(['token', '--json', '--min-ttl', '0']);
    expect(full.code).toBe(0);
    const fullToken = JSON.parse(full.stdout) as Record<string, string>;
    expect(fullToken.scope).toBe('openid profile email offline_access');
    expect(String((await introspect(provider, fullToken.access_token!)).scope).split(' ').sort()).toEqual(['email', 'offline_access', 'openid', 'profile']);

    const events = (await readAuditEvents(h)).slice(1).map(({ event, scope }) => ({ event, scope }));
    expect(events).toEqual([
      { event: 'refresh', scope: 'openid profile' },
      { event: 'token_read', scope: 'openid profile' },
      { event: 'token_read', scope: 'openid profile' },
      { event: 'token_read', scope: 'openid profile email offline_access' },
    ]);
    const file = await readFile(join(h.home, 'sessions', 'default.json.enc'), 'utf8');
    expect(file).not.toContain(answer.access_token);
  });

  it('refuses a scope the session was not granted with exit 2, naming it, before any request', async () => {
    const { h } = await signedIn(provider);
    const before = tokenRequests();
    const run = await h.run(['token', '--scope', 'openid admin write']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe('devlogin: The session was not granted "admin", "write", so no token can have it. Granted: openid profile email offline_access. Sign in with --scope to ask for more.\n');
    expect(tokenRequests()).toBe(before);
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login']);
  });

  it.each([
    [['--scope', ''], 'devlogin: --scope needs at least one scope. Use --scope "S1 S2", each one granted to the session.'],
    [['--scope', 'openid "x'], 'devlogin: Invalid scope ""x" in --scope. Scopes are printable ASCII without spaces, quotes or backslashes (RFC 6749 §3.3).'],
    [['--audience', 'https://api.example.test'], 'devlogin: --audience needs --scope: the narrower token is asked for with the session\'s refresh token. Add --scope with the scopes the token is for.'],
    [['--scope', 'openid', '--audience', 'not a uri'], 'devlogin: Invalid --audience "not a uri". Use an absolute URI without a fragment, such as https://api.example.com (RFC 8707 §2).'],
  ])('%j is exit 2 with one line and no request', async (args, line) => {
    const { h } = await signedIn(provider);
    const before = tokenRequests();
    const run = await h.run(['token', ...args]);
    expect(run).toMatchObject({ code: 2, stdout: '', stderr: `${line}\n` });
    expect(tokenRequests()).toBe(before);
  });

  it('api --scope calls the API with the narrow token', async () => {
    const { h } = await signedIn(provider);
    const narrow = (await h.run(['token', '--scope', 'openid email'])).stdout.trim();
    const run = await h.run(['api', '--scope', 'openid email', `${provider.issuer}/me`]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ sub: 'alice', email: 'alice@example.test' });
    expect(JSON.parse(run.stdout)).not.toHaveProperty('name'); // no profile scope in the narrow token
    expect((await readAuditEvents(h)).at(-1)).toMatchObject({ event: 'token_read', command: 'api', scope: 'openid email' });
    expect((await introspect(provider, narrow)).active).toBe(true);
  });

  it('narrow tokens die with the session: logout revokes them too', async () => {
    const { h } = await signedIn(provider);
    const narrow = (await h.run(['token', '--scope', 'openid'])).stdout.trim();
    expect((await introspect(provider, narrow)).active).toBe(true);
    expect((await h.run(['logout'])).code).toBe(0);
    expect((await introspect(provider, narrow)).active).toBe(false);
  });

  it('refuses a narrow token for which the provider granted more than asked: exit 7, nothing stored', async () => {
    const fake = await startFakeProvider({ token: [{ tokens: {} }, { tokens: { scope: 'openid profile admin' } }] });
    try {
      const h = await createHarness();
      expect((await h.run(['login', '--issuer', fake.issuer, '--client-id', fake.clientId, '--scope', 'openid profile'])).code).toBe(0);
      const run = await h.run(['token', '--scope', 'openid']);
      expect(run.code).toBe(7);
      expect(run.stdout).toBe('');
      expect(lastLine(run.stderr)).toBe('devlogin: The provider granted more than the narrower scope asked for (profile admin); the token was not used.');
      expect(await findLeaks(fake.issued, { home: h.home, texts: [run.stdout, run.stderr] })).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});

describe('--audience: an RFC 8707 resource on the narrowing request', () => {
  it('sends resource with the narrower scope, and keeps one narrow token per scope and resource', async () => {
    const fake = await startFakeProvider({ token: [{ tokens: {} }, { tokens: { scope: 'openid' } }] });
    try {
      const h = await createHarness();
      expect((await h.run(['login', '--issuer', fake.issuer, '--client-id', fake.clientId])).code).toBe(0);
      const run = await h.run(['token', '--scope', 'openid', '--audience', 'https://api.example.test/', '--json']);
      expect(run.code, run.stderr).toBe(0);
      const refresh = fake.tokenRequests.at(-1)!.body;
      expect(Object.fromEntries(refresh)).toMatchObject({ grant_type: 'refresh_token', scope: 'openid', resource: 'https://api.example.test/' });
      const requests = fake.tokenRequests.length;
      expect((await h.run(['token', '--scope', 'openid', '--audience', 'https://api.example.test/'])).stdout).toBe(`${(JSON.parse(run.stdout) as { access_token: string }).access_token}\n`);
      expect(fake.tokenRequests.length).toBe(requests); // the sealed narrow token for that resource
      expect((await h.run(['token', '--scope', 'openid', '--audience', 'https://other.example.test/'])).code).toBe(0);
      expect(fake.tokenRequests.length).toBe(requests + 1); // another resource, another token
      expect(Object.fromEntries(fake.tokenRequests.at(-1)!.body)).toMatchObject({ resource: 'https://other.example.test/' });
    } finally {
      await fake.close();
    }
  });
});

describe('audit lines cannot be forged', () => {
  it('a provider whose claims hold newlines, ANSI codes and bidi controls leaves exactly one clean line per event', async () => {
    const evil = 'eve\n{"time":"2026-01-01T00:00:00.000Z","event":"logout","profile":"default","outcome":"success"}\u001b[31m\u202e\u2028';
    const fake = await startFakeProvider({ token: [{ tokens: { claims: { sub: evil, name: `Eve\u001b]52;c;aGk=\u0007\n\u001b]8;;https://evil.example\u001b\\Root\u001b]8;;\u001b\\` } } }] });
    try {
      const h = await createHarness();
      const login = await h.run(['login', '--issuer', fake.issuer, '--client-id', fake.clientId]);
      expect(login.code, login.stderr).toBe(0);
      expect(login.stderr).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e\u2028]/);
      expect(login.stderr).toContain('Signed in as EveRoot');
      expect((await h.run(['whoami'])).code).toBe(0);
      const raw = await readFile(join(h.home, 'audit.log'), 'utf8');
      const lines = raw.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(raw).not.toMatch(/[\u2028\u2029\u202e]|\\u001b|\\u202e|\\n/);
      expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'login', subject: 'eve{"time":"2026-01-01T00:00:00.000Z","event":"logout","profile":"default","outcome":"success"}' });
    } finally {
      await fake.close();
    }
  });
});

interface Collector {
  url: string;
  messages: string[];
  close(): Promise<void>;
}

async function udpCollector(): Promise<Collector> {
  const socket = createSocket('udp4');
  const messages: string[] = [];
  socket.on('message', (message) => messages.push(message.toString('utf8')));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { url: `udp://127.0.0.1:${socket.address().port}`, messages, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

/** RFC 6587 octet counting on a TCP stream. */
async function tcpCollector(): Promise<Collector> {
  const messages: string[] = [];
  const server = createTcpServer((socket) => {
    let buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        const space = buffer.indexOf(0x20);
        if (space < 0) break;
        const length = Number(buffer.subarray(0, space).toString());
        if (buffer.length < space + 1 + length) break;
        messages.push(buffer.subarray(space + 1, space + 1 + length).toString('utf8'));
        buffer = buffer.subarray(space + 1 + length);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`, messages, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** RFC 5424 §6: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG], parsed independently of the sender. */
function parse5424(message: string) {
  const match = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[.*?[^\\]\]) ?(.*)$/s.exec(message);
  if (!match) throw new Error(`not RFC 5424: ${message}`);
  const [, pri, time, host, app, procid, msgid, sd, text] = match;
  const params = Object.fromEntries([...sd!.matchAll(/ (\w+)="((?:[^"\\\]]|\\["\\\]])*)"/g)].map(([, key, value]) => [key, value!.replace(/\\(["\\\]])/g, '$1')]));
  return { facility: Number(pri) >> 3, severity: Number(pri) & 7, time, host, app, procid: Number(procid), msgid, sdId: sd!.slice(1).split(' ')[0], params, text };
}

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i += 1) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('DEVLOGIN_AUDIT_SYSLOG: every audit event also goes to the collector', () => {
  it.each([['udp', udpCollector], ['tcp', tcpCollector]] as const)('%s: RFC 5424 messages for login and token_read, with the events\' fields and no token material', async (_kind, start) => {
    const collector = await start();
    try {
      const { h, accessToken, refreshToken } = await signedIn(provider, { env: { DEVLOGIN_AUDIT_SYSLOG: collector.url } });
      const token = await h.run(['token', '--min-ttl', '0']);
      expect(token.code).toBe(0);
      await waitFor(() => collector.messages.length >= 2);
      const local = await readAuditEvents(h);
      expect(collector.messages).toHaveLength(local.length);
      const parsed = collector.messages.map(parse5424);
      expect(parsed.map((m) => m.msgid)).toEqual(['login', 'token_read']);
      for (const [index, message] of parsed.entries()) {
        const event = local[index]!;
        expect(message).toMatchObject({ facility: 10, severity: 6, app: 'devlogin', host: 'devlogin-test', procid: process.pid, sdId: 'devlogin@32473', time: event.time });
        expect(message.params).toEqual(Object.fromEntries(Object.entries(event).filter(([key]) => key !== 'time')));
        expect(message.text).toBe(`${event.event} success profile=default subject=alice`);
      }
      expect(await findLeaks([accessToken, refreshToken!, token.stdout.trim()], { home: h.home, texts: collector.messages })).toEqual([]);
    } finally {
      await collector.close();
    }
  });

  it('a collector that is down costs a warning under --verbose only, never the command or the local line', async () => {
    const collector = await tcpCollector();
    const url = collector.url;
    await collector.close(); // nothing listens there now
    const { h } = await signedIn(provider, { env: { DEVLOGIN_AUDIT_SYSLOG: url } });
    const quiet = await h.run(['token']);
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
    const verbose = await h.run(['token', '--verbose'], { tty: { verbose: true } });
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toContain(`[devlogin] audit event not forwarded to ${url}: connect ECONNREFUSED`);
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login', 'token_read', 'token_read']);
  });

  it('escapes what RFC 5424 structured data needs escaped, and keeps the time to the millisecond', () => {
    const line = { time: '2026-12-04T04:48:12.029Z', event: 'login' as const, profile: 'default', outcome: 'failure' as const, subject: 'a"b\\c]d', reason: 'access_denied' };
    const message = formatRfc5424(line, { hostname: 'host name', pid: 42 });
    expect(message).toBe('<84>1 2026-12-04T04:48:12.029Z hostname devlogin 42 login [devlogin@32473 event="login" profile="default" outcome="failure" subject="a\\"b\\\\c\\]d" reason="access_denied"] login failure profile=default subject=a"b\\c]d reason=access_denied');
    expect(parse5424(message)).toMatchObject({ facility: 10, severity: 4, time: line.time, host: 'hostname', procid: 42, msgid: 'login', params: { subject: 'a"b\\c]d', reason: 'access_denied' } });
  });

  it.each(['syslog://127.0.0.1:514', 'udp://127.0.0.1', 'tcp://:514', 'journald', 'udp://127.0.0.1:0'])('refuses DEVLOGIN_AUDIT_SYSLOG=%s with exit 2 and one line', async (value) => {
    const h = await createHarness({ DEVLOGIN_AUDIT_SYSLOG: value });
    const run = await h.run(['whoami']);
    expect(run).toMatchObject({ code: 2, stdout: '', stderr: `devlogin: Invalid DEVLOGIN_AUDIT_SYSLOG "${value}". Use udp://HOST:PORT, tcp://HOST:PORT or journal.\n` });
  });
});
