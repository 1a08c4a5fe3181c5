// Bundles the CLI into a few files: loading one module is much faster than
// resolving twenty, and whoami/token are called in loops by scripts.
// Heavy or path-sensitive packages stay external and load only when needed.
//
// Two outputs:
// - dist/cli/main.js and chunks/: the full CLI, an ES module split per command;
// - dist/cli/entry.cjs: what bin/devlogin runs. CommonJS, so a whoami or token
//   answered by the agent or the fast path never starts the ES module loader;
//   it requires fast-local.cjs (the fast path in-process) when no agent
//   answers, and imports main.js for everything else.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

rmSync(new URL('../dist/cli', import.meta.url), { recursive: true, force: true });

/**
 * keychain.ts loads the keyring binding with createRequire(import.meta.url).
 * In CommonJS the module's own require does that job, and loading node:module
 * would start the ES module loader this bundle exists to avoid.
 */
const nativeRequire = {
  name: 'native-require',
  setup(build) {
    build.onResolve({ filter: /^node:module$/ }, () => ({ path: 'node:module', namespace: 'native-require' }));
    build.onLoad({ filter: /.*/, namespace: 'native-require' }, () => ({ contents: 'export const createRequire = () => require;', loader: 'js' }));
  },
};

const external = ['@napi-rs/keyring', 'openid-client', 'ora', 'open', 'qrcode-terminal', 'chalk', 'undici', 'tldts'];

await build({
  entryPoints: ['src/cli/main.ts'],
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external,
  chunkNames: 'chunks/[name]-[hash]',
  // commander is CommonJS: give its require() calls a real require.
  banner: { js: "import { createRequire as __devloginRequire } from 'node:module'; const require = __devloginRequire(import.meta.url);" },
  define: { DEVLOGIN_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});

// The client (entry.cjs) and the fast path in-process (fast-local.cjs) are
// apart: a client the agent answers compiles only the small one.
for (const [entry, outfile, ownExternal] of [
  ['src/cli/entry.ts', 'dist/cli/entry.cjs', ['./main.js', './fast-local.cjs']],
  ['src/cli/fast-local.ts', 'dist/cli/fast-local.cjs', []],
]) {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    external: [...external, ...ownExternal],
    define: { DEVLOGIN_VERSION: JSON.stringify(version) },
    plugins: [nativeRequire],
    // The shim ignores import.meta.url, which is all keychain.ts and entry.ts read of it.
    logOverride: { 'empty-import-meta': 'silent' },
    logLevel: 'warning',
  });
}
