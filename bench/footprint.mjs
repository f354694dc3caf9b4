// Footprint of tsgi per runtime: memory per process role and the cold start (issue #15).
//   node bench/footprint.mjs [rss|start|phases|all|ab DIR1 DIR2] [--rounds N] [--only node,bun] [--cold-cache]
// rss:   `tsgi --master --processes 2 --http-socket` and the bare 2-process server (bench/http/),
//        hello world, each process's role, VmRSS and PSS (/proc/PID/smaps_rollup, shared pages
//        split fairly), its threads, after one answered request and a settle.
// start: from spawn of `tsgi --http-socket :P --app examples/hello.ts` (and with `--master
//        --processes 2`) to the first 200, median of N rounds (default 10).
// phases: one start of each, with TSGI_STARTUP_PHASES: the phase lines of every process (ms
//        from spawn, ms into that process), then the first 200.
// ab DIR1 DIR2: the start of two trees of tsgi (e.g. `git archive` of two commits, with the
//        node_modules symlinked), round by round one after the other: wall and CPU medians.
// bench/all.mjs uses the same functions for its table.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NODE24 = join(ROOT, 'scripts/node-lines/node_modules/node24/bin/node');
const BUN = join(ROOT, 'node_modules/.bin/bun');
const DENO = join(ROOT, 'node_modules/.bin/deno');

/** The Node that runs the comparisons: $TSGI_BENCH_NODE, else the project's Node 24, else this one. */
function nodeBin() {
  if (process.env.TSGI_BENCH_NODE) return process.env.TSGI_BENCH_NODE;
  try {
    readFileSync(NODE24, { flag: 'r' });
    return NODE24;
  } catch {
    return process.execPath;
  }
}
export const NODE = nodeBin();
/** --cold-cache: every start gets an empty Node compile cache (a first start after a deploy, or in a fresh container). */
const COLD_CACHE = process.argv.includes('--cold-cache');

/** How to start bin/tsgi.js and a bare server of bench/http/ on each runtime. */
export const RUNTIMES = {
  node: { tsgi: [NODE, 'bin/tsgi.js'], bare: (port, n) => [NODE, 'bench/http/node-cluster.mjs', String(port), String(n)] },
  bun: { tsgi: [BUN, 'bin/tsgi.js'], bare: (port, n) => [BUN, 'bench/http/bun-serve.ts', String(port), String(n)] },
  deno: {
    tsgi: [DENO, 'run', '-A', 'bin/tsgi.js'],
    bare: (port, n) => [DENO, 'run', '-A', '--unstable-net', 'bench/http/deno-serve.ts', String(port), String(n)],
  },
};

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};

/** One GET on a new connection: true when it answered 200. */
export function ok(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.setTimeout(5000, () => req.destroy());
  });
}

/** Milliseconds from `since` to the first 200 on `port` (polled every 2 ms), NaN after limitMs. */
export async function firstAnswer(port, since, child, limitMs = 30000) {
  while (performance.now() - since < limitMs && child.exitCode === null) {
    if (await ok(port)) return performance.now() - since;
    await sleep(2);
  }
  return NaN;
}

/** The servers running now (their process groups), for a cleanup on Ctrl-C. */
export const running = new Set();

/** A server in a process group of its own, so that its whole tree stops with it. */
export function start(argv, extraEnv = {}) {
  const cache = COLD_CACHE ? mkdtempSync(join(tmpdir(), 'tsgi-cc-')) : null;
  const env = { ...process.env, ...extraEnv, ...(cache ? { NODE_COMPILE_CACHE: cache } : {}) };
  const p = spawn(argv[0], argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  if (cache) p.once('exit', () => rmSync(cache, { recursive: true, force: true }));
  p.log = '';
  p.stderr.on('data', (d) => (p.log += d));
  running.add(p.pid);
  p.once('exit', () => running.delete(p.pid));
  return p;
}

export async function stop(p) {
  if (p.exitCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  try {
    process.kill(-p.pid, 'SIGINT');
  } catch {}
  const t = setTimeout(() => {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {}
  }, 10000);
  await gone;
  clearTimeout(t);
  // The group's last members may outlive its leader by a moment.
  for (let i = 0; i < 100 && groupAlive(p.pid); i++) await sleep(50);
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {}
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** pid → parent pid of every process now. */
function parents() {
  const m = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      m.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {}
  }
  return m;
}

/** The tree under `root`, each with its depth (0: root). */
function tree(root) {
  const pp = parents();
  const out = [{ pid: root, depth: 0 }];
  for (let i = 0; i < out.length; i++) {
    for (const [pid, ppid] of pp) if (ppid === out[i].pid) out.push({ pid, depth: out[i].depth + 1 });
  }
  return out;
}

function kib(text, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

/** VmRSS, PSS (KiB) and threads of one process. */
function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    let pss = NaN;
    try {
      pss = kib(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Pss');
    } catch {}
    return { rss: kib(status, 'VmRSS'), pss, threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1]) };
  } catch {
    return null;
  }
}

/** tsgi's roles by depth under the process started: launcher (none on Bun), master, workers/router. */
function tsgiRole(depth, pid, log) {
  const master = Number(/tsgi master \(pid: (\d+)\)/.exec(log)?.[1]);
  if (pid === master) return 'master';
  if (depth === 0) return 'launcher';
  const w = new RegExp(`spawned tsgi worker (\\d+) \\(pid: ${pid}\\b`).exec(log);
  if (w) return `worker ${w[1]}`;
  return /router/.test(log) && !w ? 'router' : 'child';
}

/**
 * Start `argv` (serving hello world on `port`), wait for its first 200 and for `settled` (its
 * log says every worker is up), then read every process of its tree.
 */
export async function footprint(argv, port, { tsgi = false, settleMs = 1500 } = {}) {
  const p = start(argv);
  try {
    const ms = await firstAnswer(port, performance.now(), p);
    if (!Number.isFinite(ms)) return { error: `no answer; log: ${p.log.trim().split('\n').slice(-3).join(' / ')}` };
    if (tsgi) for (let i = 0; i < 200 && !/tsgi is ready/.test(p.log); i++) await sleep(50);
    await ok(port);
    await sleep(settleMs);
    const procs = tree(p.pid).map(({ pid, depth }) => ({
      pid,
      role: tsgi ? tsgiRole(depth, pid, p.log) : depth === 0 ? 'primary' : 'child',
      ...memory(pid),
    }));
    return { procs, rss: sum(procs, 'rss'), pss: sum(procs, 'pss') };
  } finally {
    await stop(p);
  }
}

const sum = (procs, k) => procs.reduce((a, x) => a + (x[k] ?? 0), 0);

/** Milliseconds from spawn to the first 200, one round (bench/all.mjs). */
export async function coldStart(argv, port) {
  return (await coldStartCpu(argv, port)).ms;
}

/** CPU time (user + system, ms) every process of the tree under `root` has used so far. */
export function treeCpuMs(root) {
  const tick = 10; // USER_HZ = 100 on Linux
  let ticks = 0;
  for (const { pid } of tree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks * tick;
}

/**
 * One round: milliseconds from spawn to the first 200, and the CPU time all of tsgi's processes
 * used until then (less moved by the other work on a loaded machine than the wall time).
 */
export async function coldStartCpu(argv, port) {
  const t0 = performance.now();
  const p = start(argv);
  try {
    const ms = await firstAnswer(port, t0, p);
    return { ms, cpuMs: treeCpuMs(p.pid) };
  } finally {
    await stop(p);
  }
}

export function tsgiArgs(rt, port, processes) {
  const master = processes > 1 ? ['--master', '--processes', String(processes)] : [];
  return [...RUNTIMES[rt].tsgi, '--http-socket', `127.0.0.1:${port}`, '--app', 'examples/hello.ts', '--disable-logging', ...master];
}

const mib = (k) => (k / 1024).toFixed(1);

async function printRss(runtimes) {
  console.log('| runtime | server | role | pid | RSS MiB | PSS MiB | threads |');
  console.log('|---|---|---|---|---|---|---|');
  for (const rt of runtimes) {
    for (const [label, argvOf, tsgi] of [
      ['tsgi --master --processes 2 --http-socket', (port) => tsgiArgs(rt, port, 2), true],
      ['bare, 2 processes', (port) => RUNTIMES[rt].bare(port, 2), false],
    ]) {
      const port = await freePort();
      const r = await footprint(argvOf(port), port, { tsgi });
      if (r.error) {
        console.log(`| ${rt} | ${label} | – | – | ${r.error} | | |`);
        continue;
      }
      for (const x of r.procs) console.log(`| ${rt} | ${label} | ${x.role} | ${x.pid} | ${mib(x.rss)} | ${mib(x.pss)} | ${x.threads} |`);
      console.log(`| ${rt} | ${label} | **all** | | **${mib(r.rss)}** | **${mib(r.pss)}** | |`);
    }
  }
}

async function printStart(runtimes, rounds) {
  console.log(
    `| runtime | command | cold start → first 200, median of ${rounds} (ms) | all rounds | CPU of every process until then, median (ms) | all rounds |`,
  );
  console.log('|---|---|---|---|---|---|');
  for (const rt of runtimes) {
    for (const n of [1, 2]) {
      const xs = [];
      const cpu = [];
      for (let i = 0; i < rounds; i++) {
        const port = await freePort();
        const r = await coldStartCpu(tsgiArgs(rt, port, n), port);
        xs.push(r.ms);
        cpu.push(r.cpuMs);
      }
      const label = n === 1 ? '--http-socket' : '--master --processes 2 --http-socket';
      const all = (v) => v.map((x) => x.toFixed(0)).join(', ');
      console.log(`| ${rt} | ${label} | ${median(xs).toFixed(0)} | ${all(xs)} | ${median(cpu).toFixed(0)} | ${all(cpu)} |`);
    }
  }
}

/** One start with the phase trace: every process's phase lines, then the first 200. */
async function printPhases(runtimes) {
  for (const rt of runtimes) {
    for (const n of [1, 2]) {
      const port = await freePort();
      const t0 = performance.now();
      const p = start(tsgiArgs(rt, port, n), { TSGI_STARTUP_PHASES: String(Date.now()) });
      try {
        const ms = await firstAnswer(port, t0, p);
        console.log(`${rt} ${n === 1 ? '--http-socket' : '--master --processes 2 --http-socket'}:`);
        for (const line of p.log.split('\n').filter((l) => l.startsWith('tsgi phase: '))) console.log(`  ${line.slice(12)}`);
        console.log(`  first 200: +${ms.toFixed(0)} ms from spawn\n`);
      } finally {
        await stop(p);
      }
    }
  }
}

/** Two trees' starts, interleaved round by round (the load changes less between the two). */
async function printAb(runtimes, rounds, trees) {
  const res = new Map();
  for (let i = 0; i < rounds; i++) {
    for (const rt of runtimes) {
      for (const n of [1, 2]) {
        for (const dir of trees) {
          const port = await freePort();
          const argv = tsgiArgs(rt, port, n).map((a) => (a === 'bin/tsgi.js' || a === 'examples/hello.ts' ? join(dir, a) : a));
          const r = await coldStartCpu(argv, port);
          const k = `| ${rt} | ${n === 1 ? '--http-socket' : '--master --processes 2'} | ${dir} |`;
          if (!res.has(k)) res.set(k, { ms: [], cpu: [] });
          res.get(k).ms.push(r.ms);
          res.get(k).cpu.push(r.cpuMs);
        }
      }
    }
  }
  const range = (v) => `${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}`;
  console.log(`| runtime | command | tree | wall ms, median of ${rounds} | range | CPU ms, median | range |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const [k, r] of res) console.log(`${k} ${median(r.ms).toFixed(0)} | ${range(r.ms)} | ${median(r.cpu)} | ${range(r.cpu)} |`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const what = process.argv[2] ?? 'all';
  const ri = process.argv.indexOf('--rounds');
  const rounds = ri > 0 ? Number(process.argv[ri + 1]) : 10;
  const oi = process.argv.indexOf('--only');
  const runtimes = oi > 0 ? process.argv[oi + 1].split(',') : ['node', 'bun', 'deno'];
  if (what === 'rss' || what === 'all') await printRss(runtimes);
  if (what === 'all') console.log();
  if (what === 'start' || what === 'all') await printStart(runtimes, rounds);
  if (what === 'phases') await printPhases(runtimes);
  if (what === 'ab') await printAb(runtimes, ri > 0 ? rounds : 6, [process.argv[3], process.argv[4]]);
}
