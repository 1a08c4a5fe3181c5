// npm run bench: how whoami, token and the other offline commands compare
// with `node -e 0`, run interleaved in one run (medians and ratios), with the
// keychain vault on a private Secret Service and a valid session; with
// BENCH_COMPARE=path/to/bin/devlogin, another build in the same runs; and how
// much CPU a login uses while it waits for approval. A measurement, not a test.
//
// Wall time is measured on the bare process; peak memory in a second run of
// each command under GNU time, whose own start would otherwise add a few
// milliseconds to every wall time and flatter the ratios.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { approveDeviceCode } from '../dist/demo/approve.js';
import { startLocalProvider } from '../dist/demo/provider.js';
import { missingSecretServiceCommands, startSecretService } from '../dist/demo/secret-service.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const BIN = fileURLToPath(new URL('../bin/devlogin', import.meta.url));
/** Another build's bin/devlogin (a checkout of an older commit), measured in the same runs. */
const COMPARE = process.env.BENCH_COMPARE;
const TARGET_TIME = 1.75;
const TARGET_MEMORY = 1.3;
const gnuTime = spawnSync('/usr/bin/time', ['-f', '%M', 'true']).status === 0;

const home = mkdtempSync(join(tmpdir(), 'devlogin-bench-'));
const missing = missingSecretServiceCommands();
const secrets = missing.length === 0 ? await startSecretService() : undefined;
const env = {
  PATH: process.env.PATH,
  HOME: home,
  DEVLOGIN_HOME: join(home, 'state'),
  DEVLOGIN_KEYCHAIN_SERVICE: 'devlogin-bench',
  NO_COLOR: '1',
  CI: 'true',
  ...(secrets
    ? { DBUS_SESSION_BUS_ADDRESS: secrets.address }
    : { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'bench' }),
};
if (!secrets) console.log(`No Secret Service here (missing ${missing.join(', ')}): measuring the passphrase vault instead.`);
if (process.env.NODE_EXTRA_CA_CERTS) console.log('NODE_EXTRA_CA_CERTS is set: every Node start is slower; the ratios are not comparable.');
const provider = await startLocalProvider({ pollInterval: 1 });

try {
  await signIn(env);
  // The floor for a keychain-backed command: Node plus one keychain read, loaded
  // as devlogin loads it (the platform package directly when it is there), nothing else.
  const binding = JSON.stringify(fileURLToPath(new URL(`../node_modules/@napi-rs/keyring-linux-${process.arch}-gnu`, import.meta.url)));
  const index = JSON.stringify(fileURLToPath(new URL('../node_modules/@napi-rs/keyring', import.meta.url)));
  const floor = `let k; try { k = require(${binding}); } catch { k = require(${index}); } new k.Entry('devlogin-bench', 'default', { linux: { store: 'secret-service' } }).getPassword()`;
  const devlogin = (bin, suffix) => Object.fromEntries([
    ['whoami', ['whoami']],
    ['token', ['token']],
    ['whoami --json', ['whoami', '--json']],
    ['sessions', ['sessions']],
    ['audit', ['audit']],
    ['--version', ['--version']],
    ['--help', ['--help']],
  ].map(([name, args]) => [`${name}${suffix}`, [process.execPath, [bin, ...args]]]));
  const commands = {
    'node -e 0': [process.execPath, ['-e', '0']],
    ...(secrets ? { 'keychain read only': [process.execPath, ['-e', floor]] } : {}),
    ...devlogin(BIN, ''),
    ...(COMPARE ? devlogin(COMPARE, ' (compare)') : {}),
  };
  const samples = Object.fromEntries(Object.keys(commands).map((name) => [name, { ms: [], kb: [] }]));
  for (let run = 0; run < RUNS; run += 1) {
    for (const [name, [command, args]] of Object.entries(commands)) {
      // stdout is a pipe, as in TOKEN=$(devlogin token).
      const options = { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] };
      const started = performance.now();
      const result = spawnSync(command, args, options);
      samples[name].ms.push(performance.now() - started);
      if (result.status !== 0) throw new Error(`${name} exited ${result.status}: ${result.stderr}`);
      if (!gnuTime) continue;
      const measured = spawnSync('/usr/bin/time', ['-f', '%M', command, ...args], options);
      samples[name].kb.push(Number(measured.stderr.trim().split('\n').at(-1)));
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1];
  const base = { ms: median(samples['node -e 0'].ms), kb: gnuTime ? median(samples['node -e 0'].kb) : NaN };
  console.log(`\n${RUNS} interleaved runs each, vault: ${secrets ? 'keychain (private gnome-keyring Secret Service)' : 'passphrase'}${gnuTime ? '' : ' (no GNU time: memory not measured)'}`);
  console.log('command                         median wall   ratio   peak RSS    ratio');
  for (const [name, { ms, kb }] of Object.entries(samples)) {
    const wall = median(ms);
    const rss = gnuTime ? median(kb) : NaN;
    console.log(`${name.padEnd(31)} ${wall.toFixed(1).padStart(8)} ms  ${(wall / base.ms).toFixed(2).padStart(6)}  ${gnuTime ? `${(rss / 1024).toFixed(1).padStart(6)} MiB  ${(rss / base.kb).toFixed(2).padStart(6)}` : ''}`);
  }
  for (const name of ['whoami', 'token']) {
    const time = median(samples[name].ms) / base.ms;
    const memory = gnuTime ? median(samples[name].kb) / base.kb : NaN;
    console.log(`devlogin ${name}: time ${time.toFixed(2)}× (target ≤ ${TARGET_TIME}×) ${time <= TARGET_TIME ? 'met' : 'NOT met'}; memory ${gnuTime ? `${memory.toFixed(2)}× (target ≤ ${TARGET_MEMORY}×) ${memory <= TARGET_MEMORY ? 'met' : 'NOT met'}` : 'not measured'}`);
  }
  await idleCpu();
} finally {
  await provider.close();
  secrets?.stop();
  rmSync(home, { recursive: true, force: true });
}

async function signIn(env) {
  const child = spawn(process.execPath, [BIN, 'login', '--json', '--no-dpop', '--issuer', provider.issuer, '--client-id', provider.clientId], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
    const match = /"user_code":"([^"]+)"/.exec(out);
    if (match && !child.approving) {
      child.approving = true;
      void approveDeviceCode({ issuer: provider.issuer, userCode: match[1] });
    }
  });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`login exited ${code}`);
}

/** CPU seconds a login uses while it waits 10 s for an approval that never comes. */
async function idleCpu() {
  const waiting = spawn(process.execPath, [BIN, 'login', '--json', '--profile', 'idle', '--issuer', provider.issuer, '--client-id', provider.clientId], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => waiting.stdout.once('data', resolve));
  const cpu = () => {
    const fields = readFileSync(`/proc/${waiting.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 1/100 s
  };
  const before = cpu();
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const used = cpu() - before;
  waiting.kill('SIGINT');
  await new Promise((resolve) => waiting.on('exit', resolve));
  console.log(`login waiting for approval: ${(used * 1000).toFixed(0)} ms of CPU in 10 s (${(used * 10).toFixed(2)}% of one core), polling every second`);
}
