// Bundles the CLI into a few files: loading one module is much faster than
// resolving twenty, and whoami/token are called in loops by scripts.
// Heavy or path-sensitive packages stay external and load only when needed.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

rmSync(new URL('../dist/cli', import.meta.url), { recursive: true, force: true });

await build({
  entryPoints: ['src/cli/main.ts'],
  outdir: 'dist/cli',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@napi-rs/keyring', 'openid-client', 'ora', 'open', 'qrcode-terminal', 'chalk', 'undici', 'tldts'],
  chunkNames: 'chunks/[name]-[hash]',
  // commander is CommonJS: give its require() calls a real require.
  banner: { js: "import { createRequire as __devloginRequire } from 'node:module'; const require = __devloginRequire(import.meta.url);" },
  define: { DEVLOGIN_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
});
