/**
 * `npm run demo`: starts the local OpenID provider on 127.0.0.1 and runs
 * `devlogin login` against it, in a throwaway DEVLOGIN_HOME (.demo/home) and
 * keychain service (devlogin-demo), so nothing of the user's is touched.
 *
 *   npm run demo                      sign in in your browser (any name, any password)
 *   npm run demo -- --approve-as bob  approve automatically, then exit (for scripts)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { approveDeviceCode } from './approve.js';
import { startLocalProvider, type LocalProvider } from './provider.js';
import { resolvePaths } from '../src/core/paths.js';
import { createVault } from '../src/core/vault/vault.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const demoDir = `${root}.demo`;
const home = `${demoDir}/home`;
const service = 'devlogin-demo';
const say = (line = ''): void => void process.stderr.write(`${line}\n`);

async function startProvider(): Promise<LocalProvider> {
  const port = Number(process.env.DEVLOGIN_DEMO_PORT ?? 4400);
  try {
    return await startLocalProvider({ port, pollInterval: 2 });
  } catch {
    return startLocalProvider({ port: 0, pollInterval: 2 }); // the usual port is taken: any free one
  }
}

/**
 * The vault devlogin's automatic choice takes (vault.ts chooseBackend), among
 * those that need no secret: the keychain, else the kernel keyring; where
 * neither answers, a throwaway passphrase vault, said out loud.
 */
async function vaultEnv(): Promise<Record<string, string>> {
  const env = { DEVLOGIN_HOME: home, DEVLOGIN_KEYCHAIN_SERVICE: service, DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS };
  const chosen = await createVault({ paths: resolvePaths(env, home), env }).chooseBackend({ exclude: ['key', 'passphrase'] }).catch(() => undefined);
  if (chosen === 'keychain') {
    say('Vault: the OS keychain (service "devlogin-demo").');
    return {};
  }
  if (chosen === 'kernel') {
    say('Vault: no OS keychain answers here; the Linux kernel keyring does (service "devlogin-demo"),');
    say('as devlogin would choose by itself. Its keys go when you log out or reboot.');
    return { DEVLOGIN_VAULT: 'kernel' };
  }
  const file = `${demoDir}/passphrase`;
  let passphrase: string;
  try {
    passphrase = readFileSync(file, 'utf8').trim();
  } catch {
    passphrase = randomBytes(18).toString('base64url');
    writeFileSync(file, `${passphrase}\n`, { mode: 0o600 });
  }
  say('Vault: neither an OS keychain nor the kernel keyring answers here, so the demo uses the');
  say(`passphrase vault with a throwaway passphrase kept in ${file} (fine for a demo, never for real sessions).`);
  return { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: passphrase };
}

function runLogin(provider: LocalProvider, env: NodeJS.ProcessEnv, approveAs: string | undefined): Promise<number> {
  // The local provider offers DPoP; the demo asks for it (devlogin never binds unasked).
  const args = ['bin/devlogin', 'login', '--issuer', provider.issuer, '--client-id', provider.clientId, '--dpop'];
  if (approveAs) args.push('--json', '--no-browser');
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['inherit', approveAs ? 'pipe' : 'inherit', 'inherit'] });
  if (approveAs && child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; user_code?: string };
      process.stdout.write(`${line}\n`);
      if (event.event === 'verification' && event.user_code) {
        approveDeviceCode({ issuer: provider.issuer, userCode: event.user_code, login: approveAs })
          .catch((err: unknown) => say(`demo: automatic approval failed: ${String(err)}`));
      }
    });
  }
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 130 : 1))));
}

async function main(): Promise<number> {
  const approveIndex = process.argv.indexOf('--approve-as');
  const approveAs = approveIndex > 0 ? (process.argv[approveIndex + 1] ?? 'alice') : undefined;
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const provider = await startProvider();
  say(`Local OpenID provider: ${provider.issuer} (client id "${provider.clientId}")`);
  const extra = { DEVLOGIN_HOME: home, DEVLOGIN_KEYCHAIN_SERVICE: service, ...(await vaultEnv()) };
  writeFileSync(`${demoDir}/env`, `${Object.entries(extra).map(([key, value]) => `export ${key}='${value}'`).join('\n')}\n`, { mode: 0o600 });
  if (!approveAs) say('In the browser page, sign in with any name and any password, then confirm.');
  say();

  process.on('SIGINT', () => undefined); // the child reports Ctrl-C; then we stop
  const code = await runLogin(provider, { ...process.env, ...extra }, approveAs);
  if (code !== 0 || approveAs) {
    await provider.close();
    return code;
  }
  say();
  say('The provider keeps running so that you can use the session. In another terminal:');
  say(`  cd ${root} && source .demo/env`);
  say('  ./bin/devlogin whoami      # who is signed in');
  say(`  ./bin/devlogin api ${provider.issuer}/me   # call an API with the DPoP-bound token`);
  say('  ./bin/devlogin sessions    # every profile and its state');
  say('  ./bin/devlogin revoke      # end the session at the provider');
  say('Press Ctrl-C here to stop the provider.');
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  await provider.close();
  return 0;
}

main().then((code) => process.exit(code), (err: unknown) => {
  say(`demo: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
