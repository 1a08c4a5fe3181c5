/**
 * Runs before each test file (vitest setupFiles). The files share their
 * worker's modules (isolate: false in vitest.config.ts), so a hook at the top
 * of a helper module would belong to the first file alone: the harness's
 * cleanup is registered here, once per file.
 */
import { afterAll } from 'vitest';
import { removeHarnessHomes } from './harness.js';

afterAll(removeHarnessHomes);
