// The functions a V8 CPU profile spent its time in: self time (the function itself) and
// inclusive time (with what it called), each as a share of the whole profile.
//   node bench/profile-summary.mjs FILE.cpuprofile [TOP=25]
// Reads what `node --cpu-prof`, `bun --cpu-prof` (Bun 1.4; BUN_OPTIONS reaches tsgi's children)
// and bench/cdp-profile.mjs (Deno) write. A function is named with its file and line.
import { readFileSync } from 'node:fs';

const [file, topArg = '25'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/profile-summary.mjs FILE.cpuprofile [TOP]');
  process.exit(2);
}
const top = Number(topArg);
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);

const name = (n) => {
  const f = n.callFrame;
  const where = f.url ? ` ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'}${where}`;
};

/** Time per sampled node (µs; a profile without timeDeltas counts samples). */
const timeAt = new Map();
profile.samples.forEach((id, i) => timeAt.set(id, (timeAt.get(id) ?? 0) + (profile.timeDeltas?.[i] ?? 1)));

const self = new Map();
const inclusive = new Map();
let total = 0;
for (const [id, t] of timeAt) {
  total += t;
  const own = name(nodes.get(id));
  self.set(own, (self.get(own) ?? 0) + t);
  // Once per stack, also where a function calls itself.
  const seen = new Set();
  for (let at = id; at !== undefined; at = parentOf.get(at)) {
    const k = name(nodes.get(at));
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + t);
  }
}

const print = (title, m) => {
  console.log(title);
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((100 * t) / total).toFixed(1).padStart(6)} %  ${k}`);
  console.log();
};
print('self', self);
print('inclusive', inclusive);
