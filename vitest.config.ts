import { defineConfig } from 'vitest/config';
// Generous bounds: the tests start real processes, and a loaded 2-core CI machine is slow.
export default defineConfig({ test: { include: ['test/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 180_000, pool: 'forks' } });
