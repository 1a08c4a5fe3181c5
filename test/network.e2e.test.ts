/**
 * Enterprise networks: a real proxy on loopback carries every request to a
 * provider elsewhere when HTTPS_PROXY is set, none when NO_PROXY matches, and
 * never a request to loopback (which may be plain HTTP, and would cross the
 * proxy in clear); a provider whose certificate comes from a private CA is
 * refused without NODE_EXTRA_CA_CERTS and accepted with it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { runCli, useTempHomes } from './helpers/cli.js';
import { fetchVia, signIn, startProvider } from './helpers/session.js';

const home = useTempHomes();

/** A provider "elsewhere": only the proxy knows this name (it is this machine), nothing else resolves it. */
const REMOTE = 'idp.devlogin.test';
const resolve = (host: string) => (host === REMOTE ? '127.0.0.1' : host);

/** A private CA and a server certificate for localhost, 127.0.0.1 and REMOTE. */
async function makeCa(): Promise<{ dir: string; ca: string; tls: { key: string; cert: string } }> {
  const dir = await mkdtemp(join(tmpdir(), 'devlogin-ca-'));
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=devlogin test CA');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await writeFile(join(dir, 'ext.cnf'), `subjectAltName=DNS:localhost,IP:127.0.0.1,DNS:${REMOTE}\n`);
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
  return {
    dir,
    ca: await readFile(join(dir, 'ca.pem'), 'utf8'),
    tls: { key: await readFile(join(dir, 'server.key'), 'utf8'), cert: await readFile(join(dir, 'server.pem'), 'utf8') },
  };
}

let ca: Awaited<ReturnType<typeof makeCa>>;
beforeAll(async () => {
  ca = await makeCa();
});
afterAll(async () => {
  await rm(ca.dir, { recursive: true, force: true });
});

/** A forwarding proxy: absolute-form HTTP requests and CONNECT tunnels; it records what it carried. */
async function startProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const target = new URL(req.url!);
    const upstream = request({ host: resolve(target.hostname), port: target.port, path: `${target.pathname}${target.search}`, method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url}`);
    const [host, port] = req.url!.split(':');
    const upstream = connect(Number(port), resolve(host!), () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

describe('proxy', () => {
  let remote: LocalProvider;
  let local: LocalProvider;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  beforeAll(async () => {
    remote = await startProvider({ host: REMOTE, tls: ca.tls });
    local = await startProvider();
    proxy = await startProxy();
  });
  afterAll(async () => {
    await remote.close();
    await local.close();
    await proxy.close();
  });
  const proxied = (extra: NodeJS.ProcessEnv = {}) => home({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: join(ca.dir, 'ca.pem'), ...extra });

  it('sends every request to a provider elsewhere through HTTPS_PROXY (and only that way could it work)', async () => {
    const h = await proxied();
    const before = proxy.seen.length;
    const approveFetch = await fetchVia((undici) => new undici.ProxyAgent({ uri: proxy.url, requestTls: { ca: ca.ca } }));
    const run = await signIn(remote, h, { approveFetch, args: ['--no-dpop'] });
    expect(run.code, run.stderr).toBe(0);
    const { host } = new URL(remote.issuer);
    const carried = proxy.seen.slice(before);
    expect(carried.length).toBeGreaterThan(0);
    expect(carried.every((line) => line === `CONNECT ${host}`)).toBe(true);
    // The same session is used through the proxy later: a refresh, an online check.
    expect((await runCli(['whoami', '--online'], h.env)).code).toBe(0);

    const unproxied = await runCli(['whoami', '--online'], { ...h.env, HTTP_PROXY: '', HTTPS_PROXY: '' });
    expect(unproxied.code).toBe(7); // without the proxy the name does not resolve
  });

  it('sends nothing through the proxy when NO_PROXY matches the provider', async () => {
    const h = await proxied({ NO_PROXY: REMOTE });
    const before = proxy.seen.length;
    const run = await runCli(['login', '--issuer', remote.issuer, '--client-id', remote.clientId], h.env);
    expect(run.code).toBe(7); // direct, so the name does not resolve
    expect(proxy.seen.slice(before)).toEqual([]);
  });

  it('never sends a request to loopback through the proxy, even plain HTTP with a token in it', async () => {
    const h = await home({ HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url });
    const before = proxy.seen.length;
    const run = await signIn(local, h, { args: ['--no-dpop'] });
    expect(run.code, run.stderr).toBe(0);
    expect((await runCli(['token', '--min-ttl', '0'], h.env)).code).toBe(0);
    expect((await runCli(['revoke'], h.env)).code).toBe(0);
    expect(proxy.seen.slice(before)).toEqual([]);
  });
});

describe('private certificate authority', () => {
  let provider: LocalProvider;
  beforeAll(async () => {
    provider = await startProvider({ tls: ca.tls });
  });
  afterAll(async () => {
    await provider.close();
  });

  it('refuses the provider without NODE_EXTRA_CA_CERTS: exit 7, the message says certificate', async () => {
    const h = await home();
    const result = await runCli(['login', '--issuer', provider.issuer, '--client-id', provider.clientId], h.env);
    expect(result.code).toBe(7);
    const last = result.stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^devlogin: Could not reach the provider at the discovery endpoint of https:\/\/localhost:\d+\/: .*(certificate|CERT).*/i);
    expect(last).toContain('point NODE_EXTRA_CA_CERTS to its certificate');
  });

  it('signs in when NODE_EXTRA_CA_CERTS names the private CA', async () => {
    const h = await home({ NODE_EXTRA_CA_CERTS: join(ca.dir, 'ca.pem') });
    const run = await signIn(provider, h, { approveFetch: await fetchVia((undici) => new undici.Agent({ connect: { ca: ca.ca } })) });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n')[1]!)).toMatchObject({ issuer: provider.issuer, subject: 'alice' });
  });
});
