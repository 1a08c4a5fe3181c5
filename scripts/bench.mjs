// npm run bench: how whoami, token and the other offline commands compare
// with `node -e 0`, run interleaved in one run (medians and ratios), with a
// valid session in each vault: the keychain on a private Secret Service, the
// kernel keyring (the bench runs itself in a fresh session keyring, keyctl
// session -), the vault key, and the passphrase vault (reported as is); with
// BENCH_COMPARE=path/to/bin/devlogin, another build in the same runs; and how
// much CPU a login uses while it waits for approval. A measurement, not a test.
//
// Wall time is measured on the bare process; peak memory in a second run of
// each command under GNU time, whose own start would otherwise add a few
// milliseconds to every wall time and flatter the ratios. Each run takes the
// commands in a new order (shuffled, the same for every bench run): in a
// fixed order, whatever one command leaves behind lands on the same next
// command every time (the kernel vault's whoami, always after a keychain
// token, measured a few ms slower than in any other place).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
/** whoami and token at most this many times `node -e 0`, per vault (the passphrase vault has none: scrypt is its point). */
const TARGET_TIME = { keychain: 1.75, kernel: 1.4, key: 1.4 };
const TARGET_MEMORY = 1.3;
const gnuTime = spawnSync('/usr/bin/time', ['-f', '%M', 'true']).status === 0;

// The kernel vault needs a session keyring this process possesses: run again inside a fresh one.
const hasKeyctl = spawnSync('keyctl', ['--version']).status === 0;
if (hasKeyctl && process.env.BENCH_IN_KEYRING !== '1') {
  const again = spawnSync('keyctl', ['session', '-', process.execPath, ...process.argv.slice(1)], { stdio: ['inherit', 'inherit', 'pipe'], env: { ...process.env, BENCH_IN_KEYRING: '1' } });
  process.exit(again.status ?? 1);
}

const home = mkdtempSync(join(tmpdir(), 'devlogin-bench-'));
const missing = missingSecretServiceCommands();
const secrets = missing.length === 0 ? await startSecretService() : undefined;
const base = {
  PATH: process.env.PATH,
  HOME: home,
  DEVLOGIN_KEYCHAIN_SERVICE: 'devlogin-bench',
  NO_COLOR: '1',
  CI: 'true',
};
/** One home per vault, each with its own signed-in session. */
const vaults = {
  ...(secrets ? { keychain: { DBUS_SESSION_BUS_ADDRESS: secrets.address, DEVLOGIN_VAULT: 'keychain' } } : {}),
  ...(hasKeyctl ? { kernel: { DEVLOGIN_VAULT: 'kernel' } } : {}),
  key: { DEVLOGIN_VAULT: 'key', DEVLOGIN_VAULT_KEY: randomBytes(32).toString('base64url') },
  passphrase: { DEVLOGIN_VAULT: 'passphrase', DEVLOGIN_VAULT_PASSPHRASE: 'bench' },
};
const envOf = Object.fromEntries(Object.entries(vaults).map(([name, extra]) => [name, { ...base, DEVLOGIN_HOME: join(home, name), ...extra }]));
if (!secrets) console.log(`No Secret Service here (missing ${missing.join(', ')}): the keychain vault is not measured.`);
if (!hasKeyctl) console.log('No keyctl here (Debian keyutils): the kernel vault is not measured.');
if (process.env.NODE_EXTRA_CA_CERTS) console.log('NODE_EXTRA_CA_CERTS is set: every Node start is slower; the ratios are not comparable.');
const provider = await startLocalProvider({ pollInterval: 1 });

try {
  for (const env of Object.values(envOf)) await signIn(env);
  const keyringPath = (name) => JSON.stringify(fileURLToPath(new URL(`../node_modules/${name}`, import.meta.url)));
  // The floor of a keyring-backed command: Node plus one read, loaded as
  // devlogin loads the binding (its platform package directly), nothing else.
  const floor = (store) => `let k; try { k = require(${keyringPath(`@napi-rs/keyring-linux-${process.arch}-gnu`)}); } catch { k = require(${keyringPath('@napi-rs/keyring')}); } new k.Entry('devlogin-bench', 'default', { linux: { store: '${store}' } }).getPassword()`;
  const node = (args, env = base) => [process.execPath, args, env];
  const devlogin = (bin, suffix, vault, names) => Object.fromEntries(names.map(([name, args]) => [`${name}${suffix}`, [process.execPath, [bin, ...args], envOf[vault]]]));
  const perVault = [['whoami', ['whoami']], ['token', ['token']]];
  const general = [['whoami --json', ['whoami', '--json']], ['sessions', ['sessions']], ['audit', ['audit']], ['--version', ['--version']], ['--help', ['--help']]];
  const first = Object.keys(vaults)[0];
  const commands = {
    'node -e 0': node(['-e', '0']),
    ...(secrets ? { 'keychain read only': node(['-e', floor('secret-service')], envOf.keychain) } : {}),
    ...(hasKeyctl ? { 'kernel keyring read only': node(['-e', floor('keyutils')], envOf.kernel) } : {}),
    ...Object.fromEntries(Object.keys(vaults).flatMap((vault) => Object.entries(devlogin(BIN, ` (${vault})`, vault, perVault)))),
    ...devlogin(BIN, ` (${first})`, first, general),
    ...(COMPARE ? Object.fromEntries(Object.keys(vaults).filter((vault) => vault !== 'kernel' && vault !== 'key').flatMap((vault) => Object.entries(devlogin(COMPARE, ` (${vault}, compare)`, vault, perVault)))) : {}),
  };
  const samples = Object.fromEntries(Object.keys(commands).map((name) => [name, { ms: [], kb: [] }]));
  const random = seededRandom(8628);
  for (let run = 0; run < RUNS; run += 1) {
    for (const [name, [command, args, env]] of shuffled(Object.entries(commands), random)) {
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
  const floorOf = { ms: median(samples['node -e 0'].ms), kb: gnuTime ? median(samples['node -e 0'].kb) : NaN };
  console.log(`\n${RUNS} interleaved runs each, in shuffled order, vaults: ${Object.keys(vaults).join(', ')}${secrets ? ' (keychain: a private gnome-keyring Secret Service)' : ''}${gnuTime ? '' : ' (no GNU time: memory not measured)'}`);
  console.log('command                              median wall   ratio   peak RSS    ratio');
  for (const [name, { ms, kb }] of Object.entries(samples)) {
    const wall = median(ms);
    const rss = gnuTime ? median(kb) : NaN;
    console.log(`${name.padEnd(36)} ${wall.toFixed(1).padStart(8)} ms  ${(wall / floorOf.ms).toFixed(2).padStart(6)}  ${gnuTime ? `${(rss / 1024).toFixed(1).padStart(6)} MiB  ${(rss / floorOf.kb).toFixed(2).padStart(6)}` : ''}`);
  }
  for (const vault of Object.keys(vaults)) {
    for (const command of ['whoami', 'token']) {
      const name = `${command} (${vault})`;
      const time = median(samples[name].ms) / floorOf.ms;
      const memory = gnuTime ? median(samples[name].kb) / floorOf.kb : NaN;
      const target = TARGET_TIME[vault];
      const timeVerdict = target === undefined ? 'no target' : `target ≤ ${target}× ${time <= target ? 'met' : 'NOT met'}`;
      const memoryVerdict = gnuTime ? `${memory.toFixed(2)}× (${target === undefined ? 'no target' : `target ≤ ${TARGET_MEMORY}× ${memory <= TARGET_MEMORY ? 'met' : 'NOT met'}`})` : 'not measured';
      console.log(`devlogin ${name}: time ${time.toFixed(2)}× (${timeVerdict}); memory ${memoryVerdict}`);
    }
  }
  await idleCpu(envOf[first]);
} finally {
  // End every session: the kernel keyring's key would outlive the bench's home otherwise.
  for (const env of Object.values(envOf)) spawnSync(process.execPath, [BIN, 'logout', '--local'], { env, stdio: 'ignore' });
  await provider.close();
  secrets?.stop();
  rmSync(home, { recursive: true, force: true });
}

/** mulberry32: a small seeded generator, so that every bench run takes the same orders. */
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A copy in a new order (Fisher–Yates). */
function shuffled(items, random) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
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
async function idleCpu(env) {
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
