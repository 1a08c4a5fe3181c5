/**
 * The real clients: git (through the credential helper line the README
 * gives) against a loopback smart-HTTP server, and kubectl (through the
 * README's kubeconfig exec section) against a loopback HTTPS API server, both
 * accepting only a live token; the no-session cases, in a pseudo-terminal and
 * not; another host refused; git persisting nothing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveDeviceCode } from '../demo/approve.js';
import type { LocalProvider } from '../demo/provider.js';
import { BIN, NODE, findLeaks, readAuditEvents, useTempHomes, type TestHome } from './helpers/cli.js';
import { signIn, startProvider } from './helpers/session.js';
import { runInPty, startGitServer, startKubeApiServer, type GitServer, type KubeApiServer } from './helpers/tool-servers.js';

const home = useTempHomes();
/** Without kubectl its tests are skipped here; CI installs it and sets DEVLOGIN_REQUIRE_SYSTEM_TESTS=1, which makes its absence a failure. */
const haveKubectl = spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status === 0;
if (!haveKubectl && process.env.DEVLOGIN_REQUIRE_SYSTEM_TESTS === '1') throw new Error('the kubectl tests are required, but kubectl is not installed');
const notSignedIn = 'devlogin: Not signed in (profile "default"). Run "devlogin login".';
/** A client, run asynchronously: the servers it talks to live in this process. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
const allTokens = (provider: LocalProvider) => provider.issued.flatMap((set) => [set.access_token, set.refresh_token, set.id_token].filter((t): t is string => Boolean(t)));

let provider: LocalProvider;
/** One sign-in for the tests that need a session: each sign-in costs a second of polling. */
let signedIn: TestHome;
beforeAll(async () => {
  provider = await startProvider();
  signedIn = await home();
  const login = await signIn(provider, signedIn, { args: ['--no-dpop'] });
  expect(login.code, login.stderr).toBe(0);
});
afterAll(() => provider.close());

const tokenReads = async (h: TestHome) => (await readAuditEvents(h)).filter((event) => event.event === 'token_read');

describe('git', () => {
  let server: GitServer;
  beforeAll(async () => {
    server = await startGitServer(provider);
  });
  afterAll(() => server.close());

  /** The README's setup for one host: reset the helpers there (so no other helper sees our token), then devlogin. */
  const configureGit = async (h: TestHome, url: string) => {
    const env = gitEnv(h);
    // A helper that would write to ~/.git-credentials whatever git hands it, as many people have.
    expect((await run('git', ['config', '--global', 'credential.helper', 'store'], env)).status).toBe(0);
    expect((await run('git', ['config', '--global', `credential.${url}.helper`, ''], env)).status).toBe(0);
    expect((await run('git', ['config', '--global', '--add', `credential.${url}.helper`, `!"${NODE}" "${BIN}" git-credential`], env)).status).toBe(0);
  };
  const gitEnv = (h: TestHome, terminalPrompt = false): NodeJS.ProcessEnv => ({ ...h.env, GIT_CONFIG_NOSYSTEM: '1', ...(terminalPrompt ? {} : { GIT_TERMINAL_PROMPT: '0' }) });

  it('git ls-remote gets the session\'s token from the helper, and nothing persists it', async () => {
    const h = signedIn;
    await configureGit(h, server.url);
    const before = server.seen.length;
    const reads = (await tokenReads(h)).length;
    const result = await run('git', ['ls-remote', `${server.url}/repo.git`], gitEnv(h));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`${server.commit}\tHEAD\n${server.commit}\trefs/heads/main\n`);
    const seen = server.seen.slice(before);
    expect(seen[0]).toEqual({ path: '/repo.git/info/refs', user: null, accepted: false });
    expect(seen.slice(1).every((request) => request.user === 'oauth2' && request.accepted)).toBe(true);
    expect(seen.length).toBeGreaterThan(1);
    await expect(access(join(h.home, '.git-credentials'))).rejects.toThrow('ENOENT');
    expect(await findLeaks(allTokens(provider), { home: h.home, texts: [result.stdout, result.stderr] })).toEqual([]);
    expect((await tokenReads(h)).slice(reads)).toEqual([expect.objectContaining({ command: 'git', host: '127.0.0.1', hostRule: 'issuer_site', outcome: 'success' })]);
  });

  it('another host (127.0.0.2: not the issuer\'s) gets nothing, and git says why', async () => {
    const h = signedIn;
    await configureGit(h, server.otherUrl);
    const before = server.seen.length;
    const reads = (await tokenReads(h)).length;
    const result = await run('git', ['ls-remote', `${server.otherUrl}/repo.git`], gitEnv(h));
    expect(result.status).toBe(128);
    expect(result.stderr).toContain('devlogin: Not sending the session\'s token to 127.0.0.2: it is not on the issuer\'s site (127.0.0.1) nor in apiHosts.');
    expect(server.seen.slice(before).every((request) => request.user === null)).toBe(true);
    expect(await tokenReads(h)).toHaveLength(reads);
  });

  it('without a session git fails at once with the hint, and never asks for a password, in a terminal or not', async () => {
    const h = await home();
    await configureGit(h, server.url);
    const plain = await run('git', ['ls-remote', `${server.url}/repo.git`], gitEnv(h));
    expect(plain.status).toBe(128);
    expect(plain.stderr).toContain(`${notSignedIn}\n`);
    expect(plain.stderr).toContain('told us to quit');

    const terminal = await runInPty(`git ls-remote ${server.url}/repo.git`, gitEnv(h, true)).done;
    expect(terminal.code).toBe(128);
    expect(terminal.output).toContain(notSignedIn);
    expect(terminal.output).not.toContain('Username for');
  });
});

describe.skipIf(!haveKubectl)('kubectl', () => {
  let api: KubeApiServer;
  beforeAll(async () => {
    api = await startKubeApiServer(provider);
  });
  afterAll(() => api.close());

  /** The README's kubeconfig: one cluster on loopback, whose user is devlogin's exec plugin. */
  const kubeEnv = async (h: TestHome, extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> => {
    const kubeconfig = join(h.home, 'kubeconfig');
    await writeFile(kubeconfig, JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server: api.url, 'certificate-authority-data': api.caData } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'oidc' } }],
      'current-context': 'test',
      users: [{
        name: 'oidc',
        user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: NODE, args: [BIN, 'kube-credential'], interactiveMode: 'IfAvailable', provideClusterInfo: false } },
      }],
    }));
    // Nothing but loopback: no proxy, the one cluster above.
    return { ...h.env, KUBECONFIG: kubeconfig, NO_PROXY: '*', ...extra };
  };

  it('kubectl get --raw /version sends the session\'s ID token, which the API server accepts', async () => {
    const h = signedIn;
    const before = api.seen.length;
    const reads = (await tokenReads(h)).length;
    const result = await run('kubectl', ['get', '--raw', '/version'], await kubeEnv(h));
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(api.version);
    // kubectl asks more than once, with the one credential it got (and keeps until its expiry): one token_read below.
    const seen = api.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((request) => request.path.startsWith('/version') && request.user === 'bearer' && request.accepted)).toBe(true);
    expect(await findLeaks(allTokens(provider), { home: h.home, texts: [result.stderr] })).toEqual([]);
    expect((await tokenReads(h)).slice(reads)).toEqual([expect.objectContaining({ command: 'kubectl', outcome: 'success' })]);
  });

  it('without a session and no terminal: kubectl fails with the hint, and the API server is never asked', async () => {
    const h = await home();
    const before = api.seen.length;
    const result = await run('kubectl', ['get', '--raw', '/version'], await kubeEnv(h));
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`${notSignedIn}\n`);
    expect(api.seen.slice(before)).toEqual([]);
  });

  it('without a session in a terminal: the device flow runs right there, then kubectl gets its answer', async () => {
    const h = await home();
    const env = await kubeEnv(h, { DEVLOGIN_ISSUER: provider.issuer, DEVLOGIN_CLIENT_ID: provider.clientId });
    const terminal = runInPty('kubectl get --raw /version', env);
    const [, userCode] = await terminal.waitFor(/Your one-time code: (\S+)/);
    await approveDeviceCode({ issuer: provider.issuer, userCode: userCode!, login: 'alice' });
    const { code, output } = await terminal.done;
    expect(code, output).toBe(0);
    expect(output).toContain('devlogin: Not signed in (profile "default"). Signing in for kubectl.');
    expect(output).toContain(`Enter it at:        ${provider.issuer}/device`);
    expect(output).toContain('Signed in as Alice <alice@example.test>');
    expect(output).toContain('"gitVersion":"v1.32.0-devlogin-test"');
    // The session is stored: the next kubectl, without a terminal, just works.
    const again = await run('kubectl', ['get', '--raw', '/version'], env);
    expect(again.status, again.stderr).toBe(0);
  });
});
