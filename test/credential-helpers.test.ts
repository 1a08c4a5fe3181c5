/**
 * git-credential and kube-credential in-process against the real local
 * provider: what each writes on stdout and stderr, the exit codes, the host
 * rule, refreshing, the audit events, that store/erase write nothing, and
 * kubectl's interactive sign-in. The real git and kubectl run in
 * tools.e2e.test.ts.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveDeviceCode } from '../demo/approve.js';
import type { LocalProvider } from '../demo/provider.js';
import { readAuditEvents, readTree } from './helpers/cli.js';
import { createHarness } from './helpers/harness.js';
import { startProvider } from './helpers/session.js';
import { signedIn } from './helpers/signed-in.js';

/** 30 s access tokens at sign-in (the first use refreshes), 10 min after; ID tokens of 5 min. */
let provider: LocalProvider;
let dpopProvider: LocalProvider;
beforeAll(async () => {
  [provider, dpopProvider] = await Promise.all([
    startProvider({ accessTokenTtl: (grant) => (grant === 'refresh_token' ? 600 : 30), idTokenTtl: 300 }),
    startProvider(),
  ]);
});
afterAll(async () => {
  await Promise.all([provider.close(), dpopProvider.close()]);
});

const port = (p: LocalProvider) => new URL(p.issuer).port;
const describeFor = (host: string, extra = '') => `protocol=http\nhost=${host}\n${extra}\n`;
const notSignedIn = 'devlogin: Not signed in (profile "default"). Run "devlogin login".\n';
const seconds = (iso: unknown) => Math.floor(Date.parse(String(iso)) / 1000);
const exp = (jwt: string) => (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
const rfc3339 = (epochSeconds: number) => new Date(epochSeconds * 1000).toISOString().replace('.000Z', 'Z');

describe('git-credential', () => {
  it('get answers the issuer\'s own host (any port) with a fresh token, refreshing first, and audits it', async () => {
    const { h, session, accessToken } = await signedIn(provider);
    const tokenRequests = provider.requests.get('/token')!;
    const result = await h.run(['git-credential', 'get'], { stdin: describeFor('127.0.0.1:9', 'path=team/repo.git\nwwwauth[]=Basic realm="git"\n') });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(provider.requests.get('/token')).toBe(tokenRequests + 1); // 30 s left at sign-in: refreshed
    const fresh = provider.issued.at(-1)!.access_token!;
    expect(fresh).not.toBe(accessToken);
    const expiry = Math.min(seconds(session.session_expires_at), h.clock.now() / 1000 + 600);
    expect(result.stdout).toBe(`username=oauth2\npassword=${fresh}\npassword_expiry_utc=${Math.floor(expiry)}\n`);
    const events = await readAuditEvents(h);
    expect(events.map((event) => event.event)).toEqual(['login', 'refresh', 'token_read']);
    expect(events.at(-1)).toMatchObject({ event: 'token_read', command: 'git', host: '127.0.0.1', hostRule: 'issuer_site', subject: 'alice' });
    expect(JSON.stringify(events)).not.toContain(fresh);

    // The user name git asks with (credential.username, or the URL's) is kept; url= stands for its parts.
    const asBob = await h.run(['git-credential', 'get'], { stdin: `url=http://bob@127.0.0.1:${port(provider)}/repo.git\n\n` });
    expect(asBob).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(new RegExp(`^username=bob\npassword=${fresh}\npassword_expiry_utc=\\d+\n$`)) });
  });

  it('get gives another host nothing: exit 2, one line, no quit (other helpers may serve it), no refresh, no audit', async () => {
    const { h } = await signedIn(provider);
    const tokenRequests = provider.requests.get('/token');
    const elsewhere = await h.run(['git-credential', 'get'], { stdin: 'protocol=https\nhost=github.com\n\n' });
    expect(elsewhere).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'devlogin: Not sending the session\'s token to github.com: it is not on the issuer\'s site (127.0.0.1) nor in apiHosts. Add the host to "apiHosts" in config.json if it should get it.\n',
    });
    const loopbackName = await h.run(['git-credential', 'get'], { stdin: describeFor(`localhost:${port(provider)}`) });
    expect(loopbackName).toMatchObject({ code: 2, stdout: '' });
    const plain = await h.run(['git-credential', 'get'], { stdin: 'protocol=http\nhost=git.example.com\n\n' });
    expect(plain).toMatchObject({ code: 2, stdout: '', stderr: 'devlogin: Refusing to send the session\'s token over http:// to git.example.com: only https (or http to this machine).\n' });
    const ssh = await h.run(['git-credential', 'get'], { stdin: 'protocol=ssh\nhost=127.0.0.1\n\n' });
    expect(ssh).toMatchObject({ code: 2, stdout: '' });
    expect(await h.run(['git-credential', 'get'], { stdin: 'host=127.0.0.1\n\n' })).toMatchObject({
      code: 2, stdout: '', stderr: 'devlogin: git-credential get needs "protocol" and "host" on standard input, as git sends them.\n',
    });
    expect(await h.run(['git-credential', 'get'], { stdin: 'protocol=https\nhost=a b\n\n' })).toMatchObject({ code: 2, stdout: '', stderr: 'devlogin: git asked for the host "a b", which is not a host name.\n' });
    expect(provider.requests.get('/token')).toBe(tokenRequests);
    expect((await readAuditEvents(h)).map((event) => event.event)).toEqual(['login']);
  });

  it('get without a session: quit=1 so git neither prompts nor asks another helper, the hint on stderr, exit 3', async () => {
    const h = await createHarness();
    expect(await h.run(['git-credential', 'get'], { stdin: describeFor('127.0.0.1') })).toEqual(expect.objectContaining({ code: 3, stdout: 'quit=1\n', stderr: notSignedIn }));
    const work = await h.run(['--profile', 'work', 'git-credential', 'get'], { stdin: describeFor('127.0.0.1') });
    expect(work).toMatchObject({ code: 3, stdout: 'quit=1\n', stderr: 'devlogin: Not signed in (profile "work"). Run "devlogin login --profile work".\n' });
  });

  it('get without a session for a host that is not the profile\'s issuer\'s (as config.json knows it): nothing, no quit', async () => {
    const h = await createHarness();
    await writeFile(join(h.home, 'config.json'), JSON.stringify({ profiles: { default: { issuer: 'https://login.example.com', clientId: 'c' } } }));
    expect(await h.run(['git-credential', 'get'], { stdin: 'protocol=https\nhost=github.com\n\n' })).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'devlogin: Not sending the session\'s token to github.com: it is not on the issuer\'s site (example.com) nor in apiHosts. Add the host to "apiHosts" in config.json if it should get it.\n',
    });
    expect(await h.run(['git-credential', 'get'], { stdin: 'protocol=https\nhost=git.example.com\n\n' })).toMatchObject({ code: 3, stdout: 'quit=1\n', stderr: notSignedIn });
    // A config.json git's helper cannot read: quit too, with the file named.
    await writeFile(join(h.home, 'config.json'), '{');
    expect(await h.run(['git-credential', 'get'], { stdin: 'protocol=https\nhost=git.example.com\n\n' })).toMatchObject({
      code: 2, stdout: 'quit=1\n', stderr: `devlogin: The config file ${join(h.home, 'config.json')} is not valid JSON. Fix or delete it; devlogin rewrites it on the next login.\n`,
    });
  });

  it('get on a DPoP-bound session: quit=1 and the reason, exit 2', async () => {
    const { h } = await signedIn(dpopProvider, { args: ['--dpop'] });
    const result = await h.run(['git-credential', 'get'], { stdin: describeFor('127.0.0.1') });
    expect(result).toMatchObject({ code: 2, stdout: 'quit=1\n' });
    expect(result.stderr).toMatch(/^devlogin: This session's access token is bound to a DPoP key \(RFC 9449\)[^\n]*\n$/);
    // The host comes first: another host is left to other helpers, bound session or not.
    expect(await h.run(['git-credential', 'get'], { stdin: 'protocol=https\nhost=github.com\n\n' })).toMatchObject({ code: 2, stdout: '' });
  });

  it('store and erase (and operations git may add later) write nothing anywhere and leave the session alone', async () => {
    const { h, accessToken } = await signedIn(provider);
    const before = await readTree(h.home);
    const keys = new Map(h.keyStore.items);
    for (const operation of ['store', 'erase', 'capability']) {
      const result = await h.run(['git-credential', operation], { stdin: describeFor('127.0.0.1', `username=oauth2\npassword=${accessToken}\n`) });
      expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
    expect(await readTree(h.home)).toEqual(before);
    expect(h.keyStore.items).toEqual(keys);
    expect((await h.run(['whoami'])).code).toBe(0);
    expect(await h.run(['git-credential'])).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'devlogin: git-credential needs an operation (get, store or erase): git runs it as a credential helper. Set it up with: git config --global credential.https://HOST.helper \'!devlogin git-credential\'\n',
    });
  });
});

describe('kube-credential', () => {
  const execInfo = (interactive: boolean, apiVersion = 'client.authentication.k8s.io/v1') =>
    JSON.stringify({ kind: 'ExecCredential', apiVersion, spec: { interactive } });

  it('prints one ExecCredential with the ID token and its expiry; --access-token the access token; audited', async () => {
    const { h } = await signedIn(provider);
    const idToken = provider.issued.at(-1)!.id_token!;
    const result = await h.run(['kube-credential'], { env: { KUBERNETES_EXEC_INFO: execInfo(false) } });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(`${JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: { interactive: false },
      status: { expirationTimestamp: rfc3339(exp(idToken)), token: idToken },
    })}\n`);

    const access = await h.run(['kube-credential', '--access-token'], { env: { KUBERNETES_EXEC_INFO: execInfo(false, 'client.authentication.k8s.io/v1beta1') } });
    expect(access.code, access.stderr).toBe(0);
    const refreshed = provider.issued.at(-1)!; // the 30 s access token was refreshed first
    const answer = JSON.parse(access.stdout) as { apiVersion: string; status: { token: string; expirationTimestamp: string } };
    expect(answer.apiVersion).toBe('client.authentication.k8s.io/v1beta1');
    expect(answer.status.token).toBe(refreshed.access_token);
    expect(seconds(answer.status.expirationTimestamp)).toBe(Math.floor(h.clock.now() / 1000) + 600);
    const reads = (await readAuditEvents(h)).filter((event) => event.event === 'token_read');
    expect(reads).toEqual([expect.objectContaining({ command: 'kubectl', outcome: 'success' }), expect.objectContaining({ command: 'kubectl' })]);
  });

  it('refreshes when the ID token is about to expire, although the access token is not', async () => {
    const { h } = await signedIn(provider);
    expect((await h.run(['token'])).code).toBe(0); // now a 10 min access token
    h.clock.advance(250_000); // the 5 min ID token has 50 s left
    const before = provider.requests.get('/token')!;
    const result = await h.run(['kube-credential']);
    expect(result.code, result.stderr).toBe(0);
    expect(provider.requests.get('/token')).toBe(before + 1);
    const newIdToken = provider.issued.at(-1)!.id_token!;
    expect((JSON.parse(result.stdout) as { status: { token: string } }).status.token).toBe(newIdToken);
  });

  it('without a session and not interactive: the hint on stderr, nothing on stdout, exit 3', async () => {
    const h = await createHarness();
    expect(await h.run(['kube-credential'], { env: { KUBERNETES_EXEC_INFO: execInfo(false) } })).toMatchObject({ code: 3, stdout: '', stderr: notSignedIn });
    expect(await h.run(['kube-credential'], { env: { KUBERNETES_EXEC_INFO: undefined } })).toMatchObject({ code: 3, stdout: '', stderr: notSignedIn });
  });

  it('refuses what kubectl would never send: exit 2, one line', async () => {
    const h = await createHarness();
    expect(await h.run(['kube-credential'], { env: { KUBERNETES_EXEC_INFO: '{' } })).toMatchObject({
      code: 2, stdout: '', stderr: 'devlogin: KUBERNETES_EXEC_INFO is not valid JSON; kubectl sets it to an ExecCredential.\n',
    });
    expect(await h.run(['kube-credential'], { env: { KUBERNETES_EXEC_INFO: execInfo(true, 'client.authentication.k8s.io/v1alpha1') } })).toMatchObject({
      code: 2,
      stdout: '',
      stderr: 'devlogin: kubectl asked for an ExecCredential of apiVersion "client.authentication.k8s.io/v1alpha1", which devlogin does not speak. Set "apiVersion: client.authentication.k8s.io/v1" in the kubeconfig\'s exec section.\n',
    });
  });

  it('without a session and interactive: runs the device flow on stderr (code, QR, URI), then answers on stdout alone', async () => {
    const h = await createHarness({ DEVLOGIN_ISSUER: provider.issuer, DEVLOGIN_CLIENT_ID: provider.clientId, KUBERNETES_EXEC_INFO: execInfo(true) });
    let approved = false;
    const result = await h.run(['kube-credential'], {
      tty: { stdinIsTTY: true, stderrIsTTY: true, ci: true },
      onSleep: async (_ms, run) => {
        if (approved) return;
        approved = true;
        const code = /Your one-time code: (\S+)/.exec(run.stderr())?.[1];
        if (!code) throw new Error(`no code on stderr:\n${run.stderr()}`);
        await approveDeviceCode({ issuer: provider.issuer, userCode: code, login: 'carol' });
      },
    });
    expect(result.code, result.stderr).toBe(0);
    const idToken = provider.issued.at(-1)!.id_token!;
    expect(result.stdout).toBe(`${JSON.stringify({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      spec: { interactive: true },
      status: { expirationTimestamp: rfc3339(exp(idToken)), token: idToken },
    })}\n`);
    expect(result.stderr.startsWith('devlogin: Not signed in (profile "default"). Signing in for kubectl.\nSigning in to ')).toBe(true);
    expect(result.stderr).toContain(`Enter it at:        ${provider.issuer}/device`);
    expect(result.stderr).toContain('Signed in as Carol <carol@example.test>');
    expect(result.qr).toEqual([expect.stringContaining(`${provider.issuer}/device`)]);
    expect(result.stderr).not.toContain(idToken);
    expect((await readAuditEvents(h)).map((event) => [event.event, event.command])).toEqual([['login', undefined], ['token_read', 'kubectl']]);
  });
});
