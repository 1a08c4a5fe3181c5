import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { approveDeviceCode } from '../dist/demo/approve.js';
import { startLocalProvider } from '../dist/demo/provider.js';
const provider = await startLocalProvider({ pollInterval: 1, accessTokenTtl: (g) => (g === 'refresh_token' ? 600 : 30) });
const env = { PATH: process.env.PATH, DEVLOGIN_HOME: mkdtempSync(join(tmpdir(), 'c-')), DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'x', CI: '1' };
const login = spawn(process.execPath, ['bin/devlogin', 'login', '--json', '--no-dpop', '--issuer', provider.issuer, '--client-id', provider.clientId], { env });
let lo = '';
login.stdout.on('data', async (d) => { lo += d; const m = /"user_code":"([^"]+)"/.exec(lo); if (m && !login.ok) { login.ok = 1; await approveDeviceCode({ issuer: provider.issuer, userCode: m[1] }); } });
await new Promise((r) => login.on('exit', r));
for (let i = 0; i < 10; i++) {
  const child = spawn(process.execPath, ['bin/devlogin', 'exec', '--', 'sh', '-c', 'trap "echo got-int; exit 7" INT; echo ready; while :; do sleep 0.05; done'], { env });
  let out = ''; let err = '';
  child.stderr.on('data', (d) => (err += d));
  await new Promise((resolve) => child.stdout.on('data', (c) => { out += c; if (out.includes('ready')) resolve(); }));
  child.kill('SIGINT');
  const code = await Promise.race([new Promise((r) => child.on('close', r)), new Promise((r) => setTimeout(() => r('TIMEOUT'), 3000))]);
  console.log(i, code, JSON.stringify(out), err.trim());
  if (code === 'TIMEOUT') { console.log(spawnSync('ps', ['-o', 'pid,ppid,stat,cmd', '--ppid', String(child.pid)], { encoding: 'utf8' }).stdout); console.log(spawnSync('ps', ['-o', 'pid,stat,cmd', '-p', String(child.pid)], { encoding: 'utf8' }).stdout); spawnSync('pkill', ['-KILL', '-P', String(child.pid)]); child.kill('SIGKILL'); }
}
await provider.close();
