/**
 * Enterprise networks: a real proxy on loopback sees every request when
 * HTTP(S)_PROXY is set and none when NO_PROXY matches; a provider whose
 * certificate comes from a private CA is refused without NODE_EXTRA_CA_CERTS
 * and accepted with it.
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

/** The proxy knows the test provider's name, which nothing else resolves. */
const resolve = (host: string) => (host.endsWith('.localhost') ? '127.0.0.1' : host);

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
  let provider: LocalProvider;
  let direct: LocalProvider;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  beforeAll(async () => {
    // Its issuer's host name resolves nowhere: the sign-in can only succeed through the proxy.
    provider = await startProvider({ host: 'devlogin-proxied.localhost' });
    direct = await startProvider();
    proxy = await startProxy();
  });
  afterAll(async () => {
    await provider.close();
    await direct.close();
    await proxy.close();
  });

  it('sends every request to the provider through HTTP_PROXY (and only that way could it work)', async () => {
    const h = await home({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url });
    const before = proxy.seen.length;
    const approveFetch = await fetchVia((undici) => new undici.ProxyAgent(proxy.url));
    const run = await signIn(provider, h, { approveFetch });
    expect(run.code, run.stderr).toBe(0);
    const { host } = new URL(provider.issuer);
    const carried = proxy.seen.slice(before);
    expect(carried.length).toBeGreaterThan(0);
    expect(carried.every((line) => line === `CONNECT ${host}:443` || line === `CONNECT ${host}` || line.includes(host))).toBe(true);
    // The same session is used through the proxy later: a refresh, an online check.
    expect((await runCli(['whoami', '--online'], h.env)).code).toBe(0);

    const unproxied = await runCli(['whoami', '--online'], { ...h.env, HTTP_PROXY: '', HTTPS_PROXY: '' });
    expect(unproxied.code).toBe(7); // without the proxy the name does not resolve
  });

  it('sends nothing through the proxy when NO_PROXY matches the provider', async () => {
    const h = await home({ HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' });
    const before = proxy.seen.length;
    const run = await signIn(direct, h);
    expect(run.code).toBe(0);
    expect(proxy.seen.slice(before)).toEqual([]);
  });
});

describe('private certificate authority', () => {
  let dir: string;
  let provider: LocalProvider;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'devlogin-ca-'));
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=devlogin test CA');
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
    await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
    provider = await startProvider({ tls: { key: await readFile(join(dir, 'server.key'), 'utf8'), cert: await readFile(join(dir, 'server.pem'), 'utf8') } });
  });
  afterAll(async () => {
    await provider.close();
    await rm(dir, { recursive: true, force: true });
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
    const h = await home({ NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem') });
    const ca = await readFile(join(dir, 'ca.pem'), 'utf8');
    const run = await signIn(provider, h, { approveFetch: await fetchVia((undici) => new undici.Agent({ connect: { ca } })) });
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n')[1]!)).toMatchObject({ issuer: provider.issuer, subject: 'alice' });
  });
});
