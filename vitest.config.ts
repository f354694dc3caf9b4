import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
// Generous bounds: the tests start real processes, and a loaded 2-core CI machine is slow.
// Two files at once even on 2 cores (vitest's default there is one): a test file spends most of
// its time waiting for the processes it started, and none depends on being alone (free ports,
// namespaces and temp dirs of its own, everything stopped by pid).
export default defineConfig({
  test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 180_000, pool: 'forks', maxWorkers: Math.max(2, availableParallelism() - 1) },
});
