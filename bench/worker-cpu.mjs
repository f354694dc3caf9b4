// CPU µs per request of tsgi's serving processes (utime + stime from /proc/PID/stat over the run
// ÷ requests answered), for trees side by side, alternating, so that a shared machine moves all
// of them alike. Hello world, --disable-logging, one process.
//   node bench/worker-cpu.mjs MODE RUNTIME [runs=3] [seconds=5] [TREE...]
// MODE: socket (--socket over UNIX, bench/uwsgi-load.mjs 64 in flight, a new connection per
// request), http-socket (wrk -t2 -c64, keep-alive) or http (the --http router with 2 workers,
// wrk -t2 -c64: the workers' CPU is that of the router's internal socket). RUNTIME: node, bun or
// deno. MODE http-socket-2: --http-socket with --master --processes 2 (the workers share the
// master's socket), per process. TREE: a tsgi checkout or export (default: this one); its node_modules must resolve.
// WORKER_CPU_LOGGING=1 (not TSGI_…: tsgi reads those as options): with the request log on (tsgi's default), written with --logto to a file.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

const here = fileURLToPath(new URL('..', import.meta.url));
const [mode = 'socket', runtime = 'node', runsArg = '3', secsArg = '5', ...treeArgs] = process.argv.slice(2);
const trees = treeArgs.length > 0 ? treeArgs.map((t) => resolve(t)) : [here];
const runs = Number(runsArg);
const secs = Number(secsArg);
const CLK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function runtimeCommand(tree) {
  const bin = join(tree, 'bin/tsgi.js');
  if (runtime === 'bun') return [join(here, 'node_modules/.bin/bun'), [bin]];
  if (runtime === 'deno') return [join(here, 'node_modules/.bin/deno'), ['run', '-A', bin]];
  return [process.execPath, [bin]];
}

function freePort() {
  return new Promise((ok) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => ok(p));
    });
  });
}

function cpuTicks(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function descendants(pid) {
  const out = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      if (ppid === pid) out.push(Number(d), ...descendants(Number(d)));
    } catch {}
  }
  return out;
}

function load(target, s) {
  const args =
    mode === 'socket'
      ? [process.execPath, [join(here, 'bench/uwsgi-load.mjs'), target, String(s), '64']]
      : ['wrk', ['-t2', '-c64', `-d${s}s`, `http://${target}/`]];
  const out = execFileSync(args[0], args[1]).toString();
  const m = mode === 'socket' ? /(\d+) ok/.exec(out) : /(\d+) requests in/.exec(out);
  return Number(m?.[1] ?? 0);
}

async function measure(tree) {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-cpu-'));
  const target = mode === 'socket' ? join(dir, 's.sock') : `127.0.0.1:${await freePort()}`;
  const flags = {
    socket: ['--socket', target],
    'http-socket': ['--http-socket', target],
    'http-socket-2': ['--http-socket', target, '--master', '--processes', '2'],
    http: ['--http', target, '--processes', '2'],
  };
  const flag = flags[mode];
  if (flag === undefined) throw new Error(`unknown MODE ${mode}: socket, http-socket, http-socket-2 or http`);
  const [cmd, pre] = runtimeCommand(tree);
  // With the request log on, it goes to a file: load() blocks this process, which would leave a pipe full.
  const logFile = join(dir, 'log');
  const logging = process.env.WORKER_CPU_LOGGING === '1' ? ['--logto', logFile] : ['--disable-logging'];
  const child = spawn(cmd, [...pre, ...flag, '--app', join(here, 'examples/hello.ts'), ...logging], {
    cwd: tree,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const ready = () => err.includes('tsgi is ready') || (existsSync(logFile) && readFileSync(logFile, 'utf8').includes('tsgi is ready'));
  await new Promise((ok, fail) => {
    const poll = setInterval(() => {
      if (!ready()) return;
      clearInterval(poll);
      ok();
    }, 20);
    child.stderr.on('data', (d) => {
      err += d;
    });
    child.on('exit', () => {
      clearInterval(poll);
      fail(new Error(`tsgi exited:\n${err}`));
    });
  });
  load(target, 1);
  const pids = mode === 'http' || mode === 'http-socket-2' ? descendants(child.pid) : [child.pid];
  const before = pids.map(cpuTicks);
  const t0 = performance.now();
  const n = load(target, secs);
  const wall = (performance.now() - t0) / 1000;
  const cpu = pids.map((p, i) => ((cpuTicks(p) - before[i]) / CLK) * 1e6);
  child.kill('SIGTERM');
  await new Promise((ok) => child.on('exit', ok));
  // Per process, highest first: under --http the router, then the two workers (and the master, ≈ 0);
  // under http-socket-2 the two workers, then the master.
  const per = cpu.map((c) => c / n).sort((a, b) => b - a);
  return { rps: n / wall, per };
}

for (let r = 0; r < runs; r++) {
  for (let t = 0; t < trees.length; t++) {
    const m = await measure(trees[t]);
    console.log(
      `${mode} ${runtime} run ${r + 1} ${trees[t]}: ${m.rps.toFixed(0)} req/s, CPU µs/request per process ${m.per.map((x) => x.toFixed(1)).join(' ')}`,
    );
  }
}
