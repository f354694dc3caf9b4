#!/usr/bin/env node
// `npm test`: install what the machine lacks (scripts/deps.mjs), type-check, then the same vitest
// files under Node, Bun and Deno, one after the other. Exits non-zero if any runtime fails.
// `npm test -- node` (or bun, deno) runs only those; `npm run test:unit` the peer-free unit tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDeps } from './deps.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const runners = {
  node: [process.execPath, [vitest, 'run']],
  bun: [bin('bun'), ['--bun', vitest, 'run']],
  deno: [bin('deno'), ['run', '-A', vitest, 'run']],
};
const args = process.argv.slice(2);
const only = args.filter((a) => a in runners);
// `unit`: the codecs and the connection classes over in-memory connections (test/unit), no peers.
const unit = args.includes('unit');
const extra = [...args.filter((a) => !(a in runners) && a !== 'unit'), ...(unit ? ['test/unit'] : [])];
const chosen = only.length ? only : Object.keys(runners);

try {
  ensureDeps({ system: !unit });
} catch (e) {
  console.error(`deps: ${e.message}`);
  process.exit(1);
}

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('tsc --noEmit failed');
  process.exit(1);
}
console.log('tsc --noEmit: clean');

// Lint, format and import cycles (Biome, dpdm): the same check a contributor runs as `npm run lint`.
const lint = spawnSync('npm', ['run', '--silent', 'lint'], { cwd: root, stdio: 'inherit' });
if (lint.status !== 0) {
  console.error('npm run lint failed (npm run format fixes the formatting)');
  process.exit(1);
}
console.log('lint: clean');

const out = mkdtempSync(join(tmpdir(), 'tsgi-vitest-'));
let passed = 0;
let failed = 0;
const lines = [];
for (const name of chosen) {
  const [cmd, pre] = runners[name];
  const report = join(out, `${name}.json`);
  console.log(`\n=== vitest on ${name} ===`);
  const r = spawnSync(cmd, [...pre, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...extra], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, FORCE_COLOR: '0' },
  });
  let p = 0;
  let f = 0;
  try {
    const j = JSON.parse(readFileSync(report, 'utf8'));
    p = j.numPassedTests;
    f = j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0);
  } catch {
    f = 1;
  }
  if (r.status !== 0 && f === 0) f = 1;
  passed += p;
  failed += f;
  lines.push(`${name}: ${p} passed, ${f} failed${r.status !== 0 ? ` (exit ${r.status})` : ''}`);
}
rmSync(out, { recursive: true, force: true });
console.log('\n' + lines.join('\n'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
