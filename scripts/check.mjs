// The type check and the lint, side by side: each is one process on one core,
// so on a 2-core machine together they take the time of the slower one.
// Each one's output is printed whole when it ends; the exit code is the
// first failure's, so `npm test` stops before vitest as it did in sequence.
// Run through npm (npm run check), which puts node_modules/.bin on PATH.
import { spawn } from 'node:child_process';

const checks = [['tsc', []], ['eslint', ['.']]];

const results = await Promise.all(checks.map(([name, args]) => new Promise((resolve) => {
  const child = spawn(name, args, { stdio: ['ignore', 'pipe', 'pipe'], shell: process.platform === 'win32' });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  child.on('error', (err) => {
    process.stderr.write(`check: cannot run ${name}: ${err.message}\n`);
    resolve(1);
  });
  child.on('close', (code) => {
    process.stdout.write(output);
    if (code !== 0) process.stderr.write(`check: ${name} failed (exit ${code})\n`);
    resolve(code ?? 1);
  });
})));
process.exitCode = results.find((code) => code !== 0) ?? 0;
