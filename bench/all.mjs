// Every comparison of issue #15's goals table in one run, on Node (24 by default), Bun and Deno,
// printed as ONE table with the ratio and the goal per row:
//   npm run bench                     (about 5 minutes)
//   npm run bench -- --quick          (a smoke run: 1 s per wrk row, 3 cold starts; figures meaningless)
//   npm run bench -- --only node,bun  (some runtimes)   --duration 5 (s per wrk row)   --rounds 10
// Rows, each measured side by side in this run (hello world: examples/hello.ts, bench/hello.py and
// bench/http/*, the same body), wrk -t2 -c64 after a 1 s warm-up:
//   --http router, 2 workers        ÷ uWSGI --http --http-keepalive, 2 workers (python3)
//   --socket behind nginx, 1 process ÷ the bare server behind proxy_pass (HTTP/1.0: a new
//                                    connection per request, as uwsgi_pass opens one)
//   --http-socket, 1 and 2 processes ÷ the bare server with as many (node:cluster, reusePort Bun.serve / Deno.serve)
//   RSS of --master --processes 2 --http-socket ÷ the bare 2-process server (bench/footprint.mjs)
//   cold start: spawn of tsgi --http-socket (and --master --processes 2) → first 200, median
// and, for every req/s row, the CPU time per request of each server's whole process tree.
// Needs: wrk, nginx (nginx-light), uwsgi + uwsgi-plugin-python3 from Debian; npm ci done.
// $TSGI_BENCH_NODE picks the Node (default: the project's Node 24 in scripts/node-lines, else this one).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { coldStart, footprint, freePort, median, NODE, ok, RUNTIMES, ROOT, running, sleep, start, stop, treeCpuMs, tsgiArgs } from './footprint.mjs';

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const QUICK = flag('--quick');
const DURATION = Number(value('--duration', QUICK ? 1 : 5));
const ROUNDS = Number(value('--rounds', QUICK ? 3 : 10));
const ONLY = value('--only', 'node,bun,deno').split(',');
const CONN = 64;

/** One wrk run against `url`: req/s, the requests answered and the errors it counted. */
function wrk(url, seconds) {
  return new Promise((resolve) => {
    const p = spawn('wrk', ['-t2', `-c${CONN}`, `-d${seconds}s`, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
      const errors = [...out.matchAll(/^\s*(Non-2xx[^\n]*|Socket errors[^\n]*)/gm)].map((m) => m[1].trim());
      resolve({ rps, requests, errors });
    });
  });
}

/**
 * Start a server, wait until `readyPort` answers 200 (and the log says so, for tsgi), warm up,
 * measure, stop. `cpuUs`: the CPU time (user + system) of every process of the server's tree
 * during the measured run, per request answered.
 */
async function load(argv, readyPort, { url, readyLog } = {}) {
  const p = start(argv);
  try {
    const t0 = performance.now();
    let up = false;
    while (!up && performance.now() - t0 < 30000 && p.exitCode === null) {
      up = (await ok(readyPort)) && (readyLog === undefined || readyLog.test(p.log));
      if (!up) await sleep(50);
    }
    if (!up) return { rps: NaN, cpuUs: NaN, errors: [`did not answer: ${p.log.trim().split('\n').slice(-2).join(' / ')}`] };
    const target = url ?? `http://127.0.0.1:${readyPort}/`;
    if (!QUICK) await wrk(target, 1);
    const cpu0 = treeCpuMs(p.pid);
    const r = await wrk(target, DURATION);
    return { ...r, cpuUs: ((treeCpuMs(p.pid) - cpu0) * 1000) / r.requests };
  } finally {
    await stop(p);
  }
}

const TSGI_READY = /tsgi is ready/;

/** One nginx (1 worker): uwsgi_pass to a UNIX socket, proxy_pass without keep-alive to a TCP port. */
class Nginx {
  constructor(dir, socketPath, uwsgiPort, proxyPort, backPort) {
    this.dir = dir;
    for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      mkdirSync(join(dir, d), { recursive: true });
      chmodSync(join(dir, d), 0o777);
    }
    chmodSync(dir, 0o755);
    const conf = `user www-data;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  server { listen 127.0.0.1:${uwsgiPort}; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:${socketPath}; } }
  server { listen 127.0.0.1:${proxyPort}; location / { proxy_pass http://127.0.0.1:${backPort}; } }
}
`;
    writeFileSync(join(dir, 'nginx.conf'), conf);
    execFileSync('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: 'ignore' });
  }

  stop() {
    try {
      process.kill(Number(readFileSync(join(this.dir, 'nginx.pid'), 'utf8')), 'SIGQUIT');
    } catch {}
  }
}

const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const rows = [];
const cpuRows = [];
const notes = [];

/** One row of the table: tsgi's figure, the reference's, their ratio against the goal. */
function row(what, rt, tsgi, ref, ratio, goal, meets, unit) {
  const mark = Number.isFinite(ratio) ? (meets(ratio) ? '✓' : '✗') : '?';
  rows.push(`| ${what} | ${rt} | ${tsgi} | ${ref} | ${fmt(ratio, 2)}${unit} | ${goal} | ${mark} |`);
}

/** A req/s row whose goal is a ratio of at least `goal` (`tsgi`, `ref`: load()'s results), and its row of CPU per request. */
function atLeast(what, rt, tsgi, ref, goal) {
  row(what, rt, fmt(tsgi.rps), fmt(ref.rps), tsgi.rps / ref.rps, `≥ ${goal}`, (x) => x >= goal, '×');
  cpuRows.push(`| ${what.replace(' (req/s)', '')} | ${rt} | ${fmt(tsgi.cpuUs)} | ${fmt(ref.cpuUs)} | ${fmt(tsgi.cpuUs / ref.cpuUs, 2)}× |`);
}

function noteErrors(label, r) {
  if (r.errors.length > 0) notes.push(`- ${label}: ${r.errors.join('; ')}`);
}

async function routerRows(uwsgi) {
  for (const rt of ONLY) {
    const port = await freePort();
    const r = await load([...RUNTIMES[rt].tsgi, '--http', `127.0.0.1:${port}`, '--processes', '2', '--app', 'examples/hello.ts', '--disable-logging'], port, {
      readyLog: TSGI_READY,
    });
    noteErrors(`tsgi --http on ${rt}`, r);
    atLeast('`--http` router ÷ uWSGI `--http --http-keepalive`, 2 workers (req/s)', rt, r, uwsgi, 1.5);
  }
}

async function uwsgiRouter() {
  const port = await freePort();
  const argv = ['uwsgi', '--plugin', 'python3,http', '--http', `127.0.0.1:${port}`, '--http-keepalive', '--master', '--processes', '2'];
  const r = await load([...argv, '--wsgi-file', 'bench/hello.py', '--disable-logging'], port);
  noteErrors('uWSGI --http --http-keepalive', r);
  return r;
}

async function nginxRows() {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-'));
  const sock = join(dir, 'app.sock');
  const [uwsgiPort, proxyPort, backPort] = [await freePort(), await freePort(), await freePort()];
  const nginx = new Nginx(dir, sock, uwsgiPort, proxyPort, backPort);
  nginxNow = nginx;
  try {
    for (const rt of ONLY) {
      const bare = await load(RUNTIMES[rt].bare(backPort, 1), proxyPort);
      noteErrors(`bare ${rt} behind proxy_pass`, bare);
      const tsgi = await load([...RUNTIMES[rt].tsgi, '--socket', sock, '--chmod-socket', '--app', 'examples/hello.ts', '--disable-logging'], uwsgiPort);
      noteErrors(`tsgi --socket on ${rt} behind nginx`, tsgi);
      atLeast('`--socket` behind nginx ÷ bare server behind `proxy_pass`, new connection per request, 1 process (req/s)', rt, tsgi, bare, 0.95);
    }
  } finally {
    nginx.stop();
    nginxNow = null;
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function httpSocketRows() {
  for (const n of [1, 2]) {
    for (const rt of ONLY) {
      const port = await freePort();
      const bare = await load(RUNTIMES[rt].bare(port, n), port);
      noteErrors(`bare ${rt}, ${n} process(es)`, bare);
      const port2 = await freePort();
      const tsgi = await load(tsgiArgs(rt, port2, n), port2, { readyLog: n > 1 ? TSGI_READY : undefined });
      noteErrors(`tsgi --http-socket on ${rt}, ${n} process(es)`, tsgi);
      atLeast(`\`--http-socket\` ÷ bare server, ${n} process${n > 1 ? 'es' : ''} (req/s)`, rt, tsgi, bare, 0.95);
      // Bun and Deno: the runtime's own server in each worker (SO_REUSEPORT), against the same bare run.
      if (n > 1 && rt !== 'node') {
        const port3 = await freePort();
        const reuse = await load([...tsgiArgs(rt, port3, n), '--reuse-port'], port3, { readyLog: TSGI_READY });
        noteErrors(`tsgi --http-socket --reuse-port on ${rt}, ${n} processes`, reuse);
        atLeast(`\`--http-socket --reuse-port\` ÷ bare server, ${n} processes (req/s)`, rt, reuse, bare, 0.95);
      }
    }
  }
}

async function rssRows() {
  const mib = (k) => (k / 1024).toFixed(0);
  for (const rt of ONLY) {
    const port = await freePort();
    const bare = await footprint(RUNTIMES[rt].bare(port, 2), port);
    const port2 = await freePort();
    const tsgi = await footprint(tsgiArgs(rt, port2, 2), port2, { tsgi: true });
    if (bare.error || tsgi.error) notes.push(`- RSS on ${rt}: ${bare.error ?? tsgi.error}`);
    const roles = tsgi.procs?.map((x) => `${x.role} ${mib(x.rss)}`).join(', ') ?? '';
    notes.push(
      `- RSS on ${rt} (MiB): tsgi ${roles}; bare ${bare.procs?.map((x) => mib(x.rss)).join(' + ') ?? ''}; PSS tsgi ${mib(tsgi.pss)} ÷ bare ${mib(bare.pss)} = ${fmt(tsgi.pss / bare.pss, 2)}`,
    );
    row(
      'RSS of `--master --processes 2 --http-socket` ÷ bare 2-process server (MiB, all processes)',
      rt,
      mib(tsgi.rss),
      mib(bare.rss),
      tsgi.rss / bare.rss,
      '≤ 1.3',
      (x) => x <= 1.3,
      '×',
    );
  }
}

async function startRows() {
  for (const rt of ONLY) {
    const bare = [];
    const single = [];
    const master = [];
    for (let i = 0; i < ROUNDS; i++) {
      let port = await freePort();
      bare.push(await coldStart(RUNTIMES[rt].bare(port, 1), port));
      port = await freePort();
      single.push(await coldStart(tsgiArgs(rt, port, 1), port));
      port = await freePort();
      master.push(await coldStart(tsgiArgs(rt, port, 2), port));
    }
    const b = median(bare);
    for (const [label, xs] of [
      ['`--http-socket`', single],
      ['`--master --processes 2 --http-socket`', master],
    ]) {
      const m = median(xs);
      rows.push(
        `| cold start to first 200, ${label} (ms, median of ${ROUNDS}) | ${rt} | ${fmt(m)} | bare ${fmt(b)} | – | ≤ 250 ms | ${Number.isFinite(m) ? (m <= 250 ? '✓' : '✗') : '?'} |`,
      );
      notes.push(`- cold start on ${rt}, ${label}: ${xs.map((x) => fmt(x)).join(', ')} ms (bare server: ${bare.map((x) => fmt(x)).join(', ')})`);
    }
  }
}

/** The first line a command prints (on stdout or stderr). */
function version(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (r.error) return `${cmd}: not found`;
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0];
}

/** The tree's commit, or "(not a git checkout)" for an export (`git archive`). */
function commit() {
  const r = spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%h %cd', '--date=short'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '(not a git checkout)';
}

function header() {
  const cpuModel = cpus()[0]?.model ?? '?';
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  console.log(`tsgi ${commit()}: \`npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}\``);
  console.log(`Machine: ${cpus().length} cores (${cpuModel}), load average at start ${load}`);
  console.log(
    `Node ${version(NODE, ['--version'])}, Bun ${version(RUNTIMES.bun.tsgi[0], ['--version'])}, ${version(RUNTIMES.deno.tsgi[0], ['--version'])}, ${version('uwsgi', ['--version']).replace(/^/, 'uWSGI ')}, ${version('nginx', ['-v'])}, ${version('wrk', ['--version']).split(' [')[0]}`,
  );
  console.log(
    `wrk -t2 -c${CONN} -d${DURATION}s${QUICK ? '' : ' after a 1 s warm-up'}; cold starts: ${ROUNDS} rounds${QUICK ? '; --quick: the figures mean nothing' : ''}`,
  );
  console.log();
}

let nginxNow = null;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const pgid of running) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {}
    }
    nginxNow?.stop();
    process.exit(130);
  });
}

header();
const t0 = Date.now();
const uwsgi = await uwsgiRouter();
await routerRows(uwsgi);
await nginxRows();
await httpSocketRows();
await rssRows();
await startRows();
console.log('| comparison | runtime | tsgi | reference | ratio | goal | met |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log();
// Less moved by the machine's other work than req/s: on 2 cores shared with wrk, a server that
// needs less CPU per request leaves more of them to wrk and to itself.
console.log('CPU time per request answered, every process of the server (µs; nginx not counted), in the same runs:');
console.log();
console.log('| comparison | runtime | tsgi | reference | tsgi ÷ reference |');
console.log('|---|---|---|---|---|');
for (const r of cpuRows) console.log(r);
console.log();
console.log(`Details (${((Date.now() - t0) / 1000).toFixed(0)} s in all):`);
console.log();
for (const n of notes) console.log(n);
