// The one build: esbuild bundles the CLI into one CommonJS file,
// dist/devlogin.cjs, which bin/devlogin requires. One file to read and no
// ES module loader make start-up cheap for whoami and token, which scripts
// call in loops. Packages stay external (installed as dependencies, one copy
// each); those only some commands need (openid-client, ora, qrcode-terminal,
// open, undici, tldts, chalk) are loaded inside those commands.
// The demo (dist/demo/) is bundled the same way, as ES modules.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * commander requires child_process at load, for executable subcommands,
 * which devlogin does not have: loading it costs whoami and token about 5 ms.
 * Inside commander it becomes a module that loads it on first use.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(build) {
    build.onResolve({ filter: /^node:child_process$/ }, (args) =>
      (/[\\/]node_modules[\\/]commander[\\/]/.test(args.importer) ? { path: 'child_process', namespace: 'lazy-child-process' } : undefined));
    build.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
      contents: "let real; module.exports = new Proxy({}, { get: (_, name) => (real ??= require('node:child_process'))[name] });",
      loader: 'js',
    }));
  },
};

/**
 * bin/devlogin compiles the bundle itself, as a vm.Script, so that V8 can
 * start from a code cache. Node 20 runs an import() inside such a script
 * only through an experimental loader that prints a warning, so the lazy
 * import()s of packages and builtins go through a function bin/devlogin
 * passes in, a real CommonJS module whose import() is Node's own (it
 * resolves from bin/, as from dist/: the same package). Loaded any other
 * way, the bundle imports as usual.
 */
const IMPORTER = 'var __import=typeof __devloginImport=="function"?__devloginImport:(s)=>import(s);';
function routeImports(text) {
  let count = 0;
  const routed = text.replace(/(?<![\w$.#])import\((?="[^"]+"\))/g, () => {
    count += 1;
    return '__import(';
  });
  if (/\bimport\(/.test(routed) || count === 0 || !routed.startsWith('"use strict";')) throw new Error(`bundle: ${count ? 'an import() with no literal name is left, or no "use strict" first' : 'no import() found to route'}`);
  // After the "use strict" directive, which must come first.
  return routed.replace(/^"use strict";/, (directive) => directive + IMPORTER);
}

const cli = await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/devlogin.cjs',
  write: false,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // commander runs on every call: inside the bundle it costs one file less to
  // find and compile. The keyring binding is native; the rest load lazily.
  external: ['@napi-rs/keyring', 'openid-client', 'jose', 'ora', 'qrcode-terminal', 'open', 'undici', 'tldts', 'chalk'],
  define: { DEVLOGIN_VERSION: JSON.stringify(version) },
  // A third smaller, and plain ASCII without the comments: Node reads and
  // decodes it in half the time. Names are kept, for --verbose and stacks.
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [nativeRequire, lazyChildProcess],
  // The shim ignores import.meta.url, which is all keychain.ts reads of it.
  logOverride: { 'empty-import-meta': 'silent' },
  logLevel: 'warning',
});
mkdirSync(new URL('../dist', import.meta.url), { recursive: true });
for (const file of cli.outputFiles) writeFileSync(file.path, routeImports(file.text));

// The demo, and the local provider, approval and Secret Service it is made
// of, which npm run bench uses too.
await build({
  entryPoints: ['demo/demo.ts', 'demo/provider.ts', 'demo/approve.ts', 'demo/secret-service.ts'],
  outdir: 'dist/demo',
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
