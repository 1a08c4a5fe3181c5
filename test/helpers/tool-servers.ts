/**
 * Stand-ins for the servers git and kubectl talk to, on loopback, that accept
 * only a live token of the local provider: a smart-HTTP git server (the real
 * `git http-backend` behind Basic authentication) and an HTTPS Kubernetes API
 * server that checks the ID token as kube-apiserver's OpenID Connect
 * authenticator does (signature by the issuer's keys, iss, aud, exp). Also:
 * a throwaway CA, and a command run in a pseudo-terminal (util-linux script).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { LocalProvider } from '../../demo/provider.js';
import { introspect } from './session.js';

export interface SeenRequest {
  path: string;
  /** The Basic user name, or "bearer"; null without credentials. */
  user: string | null;
  accepted: boolean;
}

interface Listening {
  seen: SeenRequest[];
  close(): Promise<void>;
}

export interface GitServer extends Listening {
  /** http://127.0.0.1:PORT */
  url: string;
  /** The same server on another loopback address, which is not the issuer's host. */
  otherUrl: string;
  /** The commit refs/heads/main points to. */
  commit: string;
}

/** A bare repository with one commit on main, served by git http-backend to whoever brings a live token. */
export async function startGitServer(provider: LocalProvider): Promise<GitServer> {
  const root = await mkdtemp(join(tmpdir(), 'devlogin-git-'));
  const git = (...args: string[]) => execFileSync('git', args, {
    cwd: root, encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' },
  }).trim();
  git('init', '-q', '--bare', '--initial-branch=main', 'repo.git');
  const tree = git('--git-dir=repo.git', 'mktree');
  const commit = git('--git-dir=repo.git', 'commit-tree', tree, '-m', 'first');
  git('--git-dir=repo.git', 'update-ref', 'refs/heads/main', commit);

  const seen: SeenRequest[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://git.invalid');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, password] = basic ? Buffer.from(basic, 'base64').toString().split(/:(.*)/s) : [];
    const accepted = password !== undefined && (await introspect(provider, password)).active === true;
    seen.push({ path: url.pathname, user: user ?? null, accepted });
    if (!accepted) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="devlogin test"' }).end();
      return;
    }
    // CGI, as git-http-backend(1) describes it.
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH, GIT_PROJECT_ROOT: root, GIT_HTTP_EXPORT_ALL: '1', REMOTE_USER: user, REMOTE_ADDR: '127.0.0.1',
        PATH_INFO: url.pathname, QUERY_STRING: url.search.slice(1), REQUEST_METHOD: req.method,
        CONTENT_TYPE: req.headers['content-type'] ?? '', HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      },
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) return void res.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      const headers: Record<string, string> = {};
      let status = 200;
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const [name, value] = line.split(/:\s*(.*)/s) as [string, string];
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => res.end());
  };
  const servers = await Promise.all(['127.0.0.1', '127.0.0.2'].map((host) => listen(createServer((req, res) => void handle(req, res)), host)));
  return {
    url: `http://127.0.0.1:${port(servers[0]!)}`,
    otherUrl: `http://127.0.0.2:${port(servers[1]!)}`,
    commit,
    seen,
    close: async () => {
      await Promise.all(servers.map(closeServer));
      await rm(root, { recursive: true, force: true });
    },
  };
}

export interface KubeApiServer extends Listening {
  url: string;
  /** base64 of the CA's PEM, for certificate-authority-data. */
  caData: string;
  version: Record<string, string>;
}

/** An HTTPS stand-in for kube-apiserver with --oidc-issuer-url and --oidc-client-id set to the provider's. */
export async function startKubeApiServer(provider: LocalProvider): Promise<KubeApiServer> {
  const dir = await mkdtemp(join(tmpdir(), 'devlogin-kube-'));
  const tls = await makeCertificates(dir);
  const discovery = (await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json()) as { jwks_uri: string };
  const keys = createRemoteJWKSet(new URL(discovery.jwks_uri));
  const version = { major: '1', minor: '32', gitVersion: 'v1.32.0-devlogin-test', platform: 'linux/amd64' };
  const seen: SeenRequest[] = [];
  const server = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    req.resume();
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    void (token ? jwtVerify(token, keys, { issuer: provider.issuer, audience: provider.clientId }).then(() => true, () => false) : Promise.resolve(false)).then((accepted) => {
      seen.push({ path: req.url ?? '', user: token ? 'bearer' : null, accepted });
      if (!accepted) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(version));
    });
  });
  await listen(server, '127.0.0.1');
  return {
    url: `https://127.0.0.1:${port(server)}`,
    caData: Buffer.from(tls.ca).toString('base64'),
    version,
    seen,
    close: async () => {
      await closeServer(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A private CA and a certificate for 127.0.0.1 signed by it, made as network.e2e.test.ts makes them. */
async function makeCertificates(dir: string): Promise<{ ca: string; key: string; cert: string }> {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  // P-256 keys: as good for a test as RSA, and made in a fraction of the time.
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=devlogin test CA');
  run('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  await writeFile(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
  const read = (name: string) => readFile(join(dir, name), 'utf8');
  return { ca: await read('ca.pem'), key: await read('server.key'), cert: await read('server.pem') };
}

export interface PtyRun {
  /** Everything the terminal showed so far (stdout and stderr, as a terminal mixes them). */
  output(): string;
  /** Resolves when `pattern` appears in the output. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  done: Promise<{ code: number | null; output: string }>;
}

/**
 * A shell command in a pseudo-terminal (`script -qfec`, util-linux): its
 * stdin, stdout and stderr are a terminal, as when a person types it. Our end
 * of stdin stays open, so a program that prompts waits for an answer that
 * never comes (the test's timeout would tell) instead of reading end-of-file.
 */
export function runInPty(command: string, env: NodeJS.ProcessEnv): PtyRun {
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...env, TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const waiters: { pattern: RegExp; resolve: (match: RegExpExecArray) => void }[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const waiter of [...waiters]) {
      const match = waiter.pattern.exec(output);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const done = new Promise<{ code: number | null; output: string }>((resolve) => child.on('close', (code) => {
    child.stdin.destroy();
    resolve({ code, output });
  }));
  return {
    output: () => output,
    waitFor: (pattern) => {
      const match = pattern.exec(output);
      if (match) return Promise.resolve(match);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void done.then(() => reject(new Error(`exited before ${pattern}; output:\n${output}`)));
      });
    },
    done,
  };
}

function listen(server: Server, host: string): Promise<Server> {
  return new Promise((resolve) => server.listen(0, host, () => resolve(server)));
}

const port = (server: Server): number => (server.address() as AddressInfo).port;

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
