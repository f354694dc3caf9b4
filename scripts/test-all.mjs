#!/usr/bin/env node
// `npm test`: install what the machine lacks (scripts/deps.mjs), type-check, lint, then the same
// vitest files on each runtime, one after the other: the whole suite on the current Node LTS (24),
// Bun and Deno; a smoke set on Node 20 and Node 26 (the oldest and newest lines), and
// the loading tests on Node 22 (it strips types as Node 24 does) — kept short so that CI stays
// well under 15 minutes on 2 cores (a Node test file takes 2–3× its time on Bun or Deno: every
// tsgi process costs Node ≈ 0.5–1 s of CPU to start). Exits non-zero if any fails.
// `npm test -- node22` (or node20, node24, node26, bun, deno; `node`: the one running this script)
// runs the whole suite on those only;
// file arguments replace the suite (`npm test -- node26 test/http.test.ts`); `npm run test:unit`
// runs the peer-free unit tests everywhere.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDeps, nodeLine } from './deps.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => join(root, 'node_modules', '.bin', name);
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
/** Loading TypeScript, the app and serve(), and the peer-free unit tests. */
const LOADING = ['test/unit', 'test/typescript.test.ts', 'test/serve.test.ts'];
/** …and a front door: --socket behind nginx (HTTP is node:http's, the same on every line). */
const SMOKE = [...LOADING, 'test/socket.test.ts'];
/** Each runtime: its command, and the files `npm test` alone runs on it (none: the whole suite). */
const runners = {
  node24: { cmd: nodeLine(24), pre: [vitest, 'run'], set: [] },
  bun: { cmd: bin('bun'), pre: ['--bun', vitest, 'run'], set: [] },
  deno: { cmd: bin('deno'), pre: ['run', '-A', vitest, 'run'], set: [] },
  node20: { cmd: nodeLine(20), pre: [vitest, 'run'], set: SMOKE },
  node22: { cmd: nodeLine(22), pre: [vitest, 'run'], set: LOADING },
  node26: { cmd: nodeLine(26), pre: [vitest, 'run'], set: SMOKE },
  /** The node running this script: by name only (`npm test -- node`). */
  node: { cmd: process.execPath, pre: [vitest, 'run'], set: null },
};
const args = process.argv.slice(2);
const only = args.filter((a) => a in runners);
// `unit`: the codecs and the connection classes over in-memory connections (test/unit), no peers.
const unit = args.includes('unit');
const extra = [...args.filter((a) => !(a in runners) && a !== 'unit'), ...(unit ? ['test/unit'] : [])];
const chosen = only.length ? only : Object.keys(runners).filter((name) => runners[name].set !== null);
/** The files for a runtime: the ones named, or the whole suite where the runtime is named, or its set. */
const files = (name) => (extra.length ? extra : only.length ? [] : runners[name].set);

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
// The failing tests by name, repeated at the end: CI keeps only the tail of a long log.
const failures = [];
for (const name of chosen) {
  const { cmd, pre } = runners[name];
  const report = join(out, `${name}.json`);
  const started = Date.now();
  const set = files(name);
  console.log(`\n=== vitest on ${name} (${cmd}): ${set.length ? set.join(' ') : 'the whole suite'} ===`);
  const r = spawnSync(cmd, [...pre, '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...set], {
    cwd: root,
    stdio: 'inherit',
    // A Node line is first on PATH too: a `node` that a test or tool starts by name is the one under test.
    env: { ...process.env, FORCE_COLOR: '0', ...(name.startsWith('node') ? { PATH: `${dirname(cmd)}:${process.env.PATH}` } : {}) },
  });
  let p = 0;
  let f = 0;
  try {
    const j = JSON.parse(readFileSync(report, 'utf8'));
    p = j.numPassedTests;
    f = j.numFailedTests + (j.numRuntimeErrorTestSuites ?? 0);
    failures.push(...failedTests(name, j));
  } catch {
    f = 1;
  }
  if (r.status !== 0 && f === 0) f = 1;
  passed += p;
  failed += f;
  const what = set === SMOKE ? 'smoke set' : set === LOADING ? 'loading tests' : set.length ? set.join(' ') : 'whole suite';
  lines.push(`${name} (${what}): ${p} passed, ${f} failed${r.status !== 0 ? ` (exit ${r.status})` : ''} in ${Math.round((Date.now() - started) / 1000)} s`);
}
rmSync(out, { recursive: true, force: true });
if (failures.length) console.log(`\nfailed:\n${failures.join('\n')}`);
console.log('\n' + lines.join('\n'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);

/** One line per failed test or file that failed to run, with the first line of its message. */
function failedTests(runner, report) {
  const out = [];
  for (const file of report.testResults ?? []) {
    const rel = relative(root, file.name);
    const failed = (file.assertionResults ?? []).filter((t) => t.status === 'failed');
    for (const t of failed) out.push(`  ${runner}: ${rel} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
    if (!failed.length && file.status === 'failed') out.push(`  ${runner}: ${rel}: ${firstLine(file.message)}`);
  }
  return out;
}

function firstLine(text) {
  return String(text ?? '')
    .split('\n')[0]
    .slice(0, 300);
}
