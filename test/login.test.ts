import { afterAll, beforeAll, it } from 'vitest';
import type { LocalProvider } from '../demo/provider.js';
import { createHarness, signIn } from './helpers/harness.js';
import { startProvider } from './helpers/session.js';
import { startFakeProvider } from './helpers/fake-provider.js';

let provider: LocalProvider;
beforeAll(async () => { provider = await startProvider(); });
afterAll(() => provider.close());

it('explore', async () => {
  const h = await createHarness();
  const t0 = performance.now();
  const run = await signIn(h, provider);
  console.log(performance.now() - t0, JSON.stringify(run, null, 1));
  const h2 = await createHarness();
  await import('ora');
  const run2 = await signIn(h2, provider, { tty: { stderrIsTTY: true, stdinIsTTY: true, color: true } });
  console.log(JSON.stringify(run2, null, 1));
  const fake = await startFakeProvider({ discovery: { dpop_signing_alg_values_supported: ['ES256'] }, token: [{ tokens: {} }] });
  const run3 = await h2.run(['login', '--dpop', '--issuer', fake.issuer, '--client-id', fake.clientId]);
  console.log(JSON.stringify(run3, null, 1));
  const run4 = await h2.run(['login', '--issuer', fake.issuer, '--client-id', fake.clientId], { tty: { stderrIsTTY: true } });
  console.log(JSON.stringify(run4, null, 1));
  await fake.close();
});
