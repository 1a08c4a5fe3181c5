// The one build: esbuild bundles the CLI into one CommonJS file,
// dist/devlogin.cjs, which bin/devlogin requires. One file to read and no
// ES module loader make start-up cheap for whoami and token, which scripts
// call in loops. Packages stay external (installed as dependencies, one copy
// each); those only some commands need (openid-client, ora, qrcode-terminal,
// open, undici, tldts, chalk) are loaded inside those commands.
// The demo (dist/demo/demo.js) is bundled the same way, as an ES module.
import { readFileSync, rmSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

/**
 * keychain.ts loads the keyring binding with createRequire(import.meta.url),
 * which is right for the ES modules the tests and the demo run. In the
 * CommonJS bundle the module's own require does that job.
 */
const nativeRequire = {
  name: 'native-require',
  setup(build) {
    build.onResolve({ filter: /^node:module$/ }, () => ({ path: 'node:module', namespace: 'native-require' }));
    build.onLoad({ filter: /.*/, namespace: 'native-require' }, () => ({ contents: 'export const createRequire = () => require;', loader: 'js' }));
  },
};

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/devlogin.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  define: { DEVLOGIN_VERSION: JSON.stringify(version) },
  plugins: [nativeRequire],
  // The shim ignores import.meta.url, which is all keychain.ts reads of it.
  logOverride: { 'empty-import-meta': 'silent' },
  logLevel: 'warning',
});

await build({
  entryPoints: ['demo/demo.ts'],
  outfile: 'dist/demo/demo.js',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
