#!/usr/bin/env node
// Lifecycle under load: tsgi --master --processes 2 on each runtime and front door, 32+ clients
// with a new connection per request, through a cold start, a SIGHUP reload, a SIGTERM stop and a
// kill -9 of a worker, each in the middle of the load. Prints failed/total per runtime × door ×
// step; exits 1 if any figure but kill -9's is non-zero.
//   node bench/lifecycle.mjs [--runtime node|bun|deno]... [--door NAME]... [--step NAME]...
//                            [--clients 32] [--requests 3000]
// Doors: socket-tcp socket-unix http-socket-tcp http-socket-unix http. Steps: cold-start sighup
// sigterm kill9. The module is also imported by test/load-lifecycle.test.ts (see lifecycle.d.mts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const APP = 'test/fixtures/apps/echo.ts';
/** Every request: the app sleeps this long, so each worker holds several in flight. */
const PATH = '/sleep?ms=10';
const BODY = /^slept 10 ms in \d+\n$/;
export const DOORS = ['socket-tcp', 'socket-unix', 'http-socket-tcp', 'http-socket-unix', 'http'];
export const STEPS = ['cold-start', 'sighup', 'sigterm', 'kill9'];
export const RUNTIMES = ['node', 'bun', 'deno'];

/** argv that starts tsgi on a runtime, from this checkout. */
export function tsgiCommand(runtime) {
  const bin = (name) => join(ROOT, 'node_modules', '.bin', name);
  if (runtime === 'bun') return [bin('bun'), [join(ROOT, 'bin/tsgi.js')]];
  if (runtime === 'deno') return [bin('deno'), ['run', '-A', join(ROOT, 'bin/tsgi.js')]];
  return [process.versions.bun || process.versions.deno ? 'node' : process.execPath, [join(ROOT, 'bin/tsgi.js')]];
}

// ---- requests ---------------------------------------------------------------------------------

function uwsgiPacket(vars) {
  const parts = [];
  for (const [k, v] of Object.entries(vars)) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    parts.push(Buffer.from([kb.length & 255, kb.length >> 8]), kb, Buffer.from([vb.length & 255, vb.length >> 8]), vb);
  }
  const block = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0, block.length & 255, block.length >> 8, 0]), block]);
}

/** What a client sends on each new connection at this door. */
function requestBytes(door) {
  if (door.startsWith('socket-')) {
    const [path, query] = PATH.split('?');
    return uwsgiPacket({
      REQUEST_METHOD: 'GET',
      REQUEST_URI: PATH,
      PATH_INFO: path,
      QUERY_STRING: query,
      SERVER_PROTOCOL: 'HTTP/1.1',
      HTTP_HOST: 'lifecycle',
      REMOTE_ADDR: '127.0.0.1',
      REMOTE_PORT: '1',
      SERVER_NAME: 'lifecycle',
      SERVER_PORT: '80',
    });
  }
  return Buffer.from(`GET ${PATH} HTTP/1.1\r\nHost: lifecycle\r\nConnection: close\r\n\r\n`, 'latin1');
}

/** The answer's body if `buf` holds a whole 200 answer (framed, or ended by the close). */
function answered(buf, closed) {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1 || !/^HTTP\/1\.[01] 200 /.test(text)) return null;
  const head = text.slice(0, end);
  const rest = text.slice(end + 4);
  const len = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (len) return rest.length >= Number(len[1]) ? rest.slice(0, Number(len[1])) : null;
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    let body = '';
    let at = 0;
    for (;;) {
      const nl = rest.indexOf('\r\n', at);
      if (nl === -1) return null;
      const n = parseInt(rest.slice(at, nl), 16);
      if (Number.isNaN(n)) return null;
      if (n === 0) return rest.indexOf('\r\n\r\n', nl) === -1 ? null : body;
      if (rest.length < nl + 2 + n + 2) return null;
      body += rest.slice(nl + 2, nl + 2 + n);
      at = nl + 2 + n + 2;
    }
  }
  return closed ? rest : null;
}

/**
 * One request on a new connection: 'refused ERRNO' (the connection was never made), 'ok' (a whole 200
 * answer with the app's body), or how it failed once connected: 'reset' (closed with no answer),
 * 'status NNN', 'cut' (part of an answer), 'timeout'.
 */
function once(target, bytes, timeoutMs, onConnect) {
  return new Promise((resolve) => {
    const s = net.connect(target);
    let buf = Buffer.alloc(0);
    let connected = false;
    let settled = false;
    let errno = 'timeout';
    const finish = (what) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(what);
    };
    const failure = () => {
      if (buf.length === 0) return 'reset';
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(buf.toString('latin1', 0, 12))?.[1];
      return status && status !== '200' ? `status ${status}` : 'cut';
    };
    const timer = setTimeout(() => finish(connected ? 'timeout' : 'refused timeout'), timeoutMs);
    s.on('connect', () => {
      connected = true;
      onConnect();
      s.write(bytes);
    });
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const body = answered(buf, false);
      if (body !== null) finish(BODY.test(body) ? 'ok' : 'cut');
    });
    s.on('error', (e) => (errno = e.code ?? e.message));
    s.on('close', () => {
      if (!connected) return finish(`refused ${errno}`);
      const body = answered(buf, true);
      finish(body !== null && BODY.test(body) ? 'ok' : failure());
    });
  });
}

// ---- tsgi -------------------------------------------------------------------------------------

class Tsgi {
  #child;
  #out = '';
  #waiters = new Set();
  exited;

  constructor(cmd, args) {
    this.#child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const onData = (d) => {
      this.#out += d.toString();
      for (const w of this.#waiters) w();
    };
    this.#child.stdout.on('data', onData);
    this.#child.stderr.on('data', onData);
    this.exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const w of this.#waiters) w();
    });
  }

  get pid() {
    return this.#child.pid;
  }
  output() {
    return this.#out;
  }
  /** Resolves with the match, or null once the process exited or ms passed. */
  waitFor(re, ms) {
    return new Promise((resolve) => {
      let gone = false;
      void this.exited.then(() => (gone = true));
      const check = () => {
        const m = re.exec(this.#out);
        if (m || gone) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        resolve(null);
      }, ms);
      this.#waiters.add(check);
      check();
    });
  }
  workerPids() {
    return [...this.#out.matchAll(/spawned tsgi worker \d+ \(pid: (\d+)/g)].map((m) => Number(m[1]));
  }
  signal(sig, pid = this.pid) {
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  }
  /**
   * SIGTERM, then (bounded) SIGKILL to it and to every process it named that still runs from
   * this checkout (a pid of ours that exited may have been reused).
   */
  async stop() {
    this.signal('SIGTERM');
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 15_000))]);
    const pids = [
      this.pid,
      Number(/tsgi master \(pid: (\d+)\)/.exec(this.#out)?.[1]),
      ...this.workerPids(),
      ...[...this.#out.matchAll(/http router \(pid: (\d+)\)/g)].map((m) => Number(m[1])),
    ];
    for (const pid of pids) if (pid && fromHere(pid)) this.signal('SIGKILL', pid);
  }
}

/** Is pid a live process started from this checkout? */
function fromHere(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(ROOT);
  } catch {
    return false;
  }
}

function doorArgs(door, dir, port) {
  const unix = join(dir, 'lifecycle.sock');
  switch (door) {
    case 'socket-tcp':
      return { args: ['--socket', `127.0.0.1:${port}`], target: { host: '127.0.0.1', port } };
    case 'socket-unix':
      return { args: ['--socket', unix], target: { path: unix } };
    case 'http-socket-tcp':
      return { args: ['--http-socket', `127.0.0.1:${port}`], target: { host: '127.0.0.1', port } };
    case 'http-socket-unix':
      return { args: ['--http-socket', unix], target: { path: unix } };
    case 'http':
      return { args: ['--http', `127.0.0.1:${port}`], target: { host: '127.0.0.1', port } };
    default:
      throw new Error(`unknown door ${door}: one of ${DOORS.join(', ')}`);
  }
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---- load -------------------------------------------------------------------------------------

/** Clients sending one request per connection until stopped; counts what happened. */
class Load {
  ok = 0;
  failed = 0;
  /** Refusals that count as failures (after the first accept, before any stop), by errno. */
  refused = 0;
  refusedKinds = new Map();
  refusedAfterStop = 0;
  inFlight = 0;
  /** Failures of connected requests by kind ('reset', 'status 502', ...). */
  kinds = new Map();
  /** Failures of requests connected before mark() (the stop, the kill); the rest connected after. */
  failedBeforeMark = 0;
  #marked = false;
  accepted = false;
  /** Refusals from now on are expected (counted apart); implies mark(). */
  stopBegan = false;
  #running = true;
  #clients;

  constructor(target, bytes, clients, timeoutMs) {
    this.#clients = Array.from({ length: clients }, () => this.#client(target, bytes, timeoutMs));
  }

  mark() {
    this.#marked = true;
  }

  beginStop() {
    this.mark();
    this.stopBegan = true;
  }

  /** Requests that got a connection (answered or failed). */
  get connected() {
    return this.ok + this.failed;
  }

  /** What the table counts: connected requests and the refusals that count as failures. */
  get done() {
    return this.ok + this.failed + this.refused;
  }

  async #client(target, bytes, timeoutMs) {
    while (this.#running) {
      let mine = false;
      let connectedBeforeMark = false;
      // A refusal counts only for an attempt begun after the first accept (an attempt begun
      // before it may learn of its refusal later).
      const afterFirstAccept = this.accepted;
      const r = await once(target, bytes, timeoutMs, () => {
        this.accepted = true;
        mine = true;
        connectedBeforeMark = !this.#marked;
        this.inFlight++;
      });
      if (mine) this.inFlight--;
      const refused = r.startsWith('refused');
      if (r === 'ok') this.ok++;
      else if (!refused) {
        this.failed++;
        if (connectedBeforeMark) this.failedBeforeMark++;
        this.kinds.set(r, (this.kinds.get(r) ?? 0) + 1);
      } else if (this.stopBegan) this.refusedAfterStop++;
      else if (afterFirstAccept) {
        this.refused++;
        this.refusedKinds.set(r, (this.refusedKinds.get(r) ?? 0) + 1);
      }
      if (refused) await new Promise((res) => setTimeout(res, 10));
    }
  }

  /** Resolves when cond() holds (checked every 10 ms) or ms passed; true if it held. */
  async until(cond, ms) {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
    return true;
  }

  async end() {
    this.#running = false;
    await Promise.all(this.#clients);
  }
}

/**
 * One step on a fresh tsgi: { failed, total, refusedAfterStop?, note? }. The step runs until
 * `requests` requests got a connection (and, after a reload or a kill, 2 × clients more).
 * failed counts every request that did not get a whole 200 with the app's body, and every
 * refusal after the first accept (before a stop began).
 */
export async function runStep({ command, door, step, clients = 32, requests = 3000, stepMs = 120_000, requestMs = 15_000 }) {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-lifecycle-'));
  const port = await freePort();
  const { args, target } = doorArgs(door, dir, port);
  const [cmd, pre] = command;
  const notes = [];
  const deadline = Date.now() + stepMs;
  const left = () => Math.max(0, deadline - Date.now());
  let tsgi = null;
  let load = null;
  const bytes = requestBytes(door);
  const start = () => new Tsgi(cmd, [...pre, '--master', '--processes', '2', ...args, '--app', APP, '--disable-logging']);
  try {
    if (step === 'cold-start') {
      // Clients first: they retry until the first accept, then every refusal counts.
      load = new Load(target, bytes, clients, requestMs);
      tsgi = start();
      if (!(await load.until(() => load.connected >= requests, left()))) notes.push('step deadline');
    } else {
      tsgi = start();
      if (!(await tsgi.waitFor(/tsgi is ready/, Math.min(left(), 60_000)))) throw new Error(`tsgi did not get ready:\n${tsgi.output()}`);
      load = new Load(target, bytes, clients, requestMs);
      await load.until(() => load.connected >= requests / 3, left());
      if (step === 'sighup') {
        tsgi.signal('SIGHUP');
        if (!(await tsgi.waitFor(/reload done: every worker replaced/, left()))) notes.push('no "reload done"');
        const after = load.connected;
        if (!(await load.until(() => load.connected >= requests && load.connected >= after + 2 * clients, left()))) notes.push('step deadline');
      } else if (step === 'sigterm') {
        load.beginStop();
        tsgi.signal('SIGTERM');
        const exited = await Promise.race([tsgi.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), left()))]);
        if (!exited) notes.push('did not exit');
      } else if (step === 'kill9') {
        const victim = tsgi.workerPids()[0];
        const inFlightAtKill = load.inFlight;
        load.mark();
        tsgi.signal('SIGKILL', victim);
        notes.push(`${inFlightAtKill} in flight at the kill`);
        if (!(await tsgi.waitFor(/(tsgi worker \d+ \(pid: \d+\) ready in[\s\S]*){3}/, left()))) notes.push('no respawn');
        const after = load.connected;
        if (!(await load.until(() => load.connected >= requests && load.connected >= after + 2 * clients, left()))) notes.push('step deadline');
      } else {
        throw new Error(`unknown step ${step}: one of ${STEPS.join(', ')}`);
      }
    }
    await load.end();
    const result = { failed: load.failed + load.refused, total: load.done };
    const kinds = [...load.kinds, ...load.refusedKinds].map(([k, n]) => `${n} ${k}`);
    if (step === 'sigterm' && load.failed) kinds.push(`${load.failedBeforeMark} connected before the stop`);
    if (step === 'kill9' && load.failed) kinds.push(`${load.failed - load.failedBeforeMark} connected after the kill`);
    if (kinds.length) notes.unshift(kinds.join(', '));
    if (step === 'sigterm') result.refusedAfterStop = load.refusedAfterStop;
    if (notes.length) result.note = notes.join('; ');
    return result;
  } finally {
    await load?.end();
    if (tsgi) await tsgi.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A cell of the table. */
export function cell(step, r) {
  if (r.error) return `error: ${r.error}`;
  let s = `${r.failed}/${r.total}`;
  if (step === 'sigterm') s += ` (+${r.refusedAfterStop} refused after stop)`;
  if (r.note) s += ` [${r.note}]`;
  return s;
}

/** Does this result break the harness's rule (kill -9 may fail what its worker held)? */
export function broken(step, r) {
  return step !== 'kill9' && (Boolean(r.error) || r.failed > 0 || /deadline|did not|no "/.test(r.note ?? ''));
}

// ---- command line -----------------------------------------------------------------------------

async function main(argv) {
  const pick = (flag, all) => {
    const got = [];
    for (let i = 0; i < argv.length; i++) if (argv[i] === flag) got.push(argv[++i]);
    for (const g of got) if (!all.includes(g)) throw new Error(`${flag} ${g}: one of ${all.join(', ')}`);
    return got.length ? got : all;
  };
  const num = (flag, dflt) => {
    const i = argv.indexOf(flag);
    return i === -1 ? dflt : Number(argv[i + 1]);
  };
  const runtimes = pick('--runtime', RUNTIMES);
  const doors = pick('--door', DOORS);
  const steps = pick('--step', STEPS);
  const clients = num('--clients', 32);
  const requests = num('--requests', 3000);
  const rows = [];
  let bad = false;
  for (const runtime of runtimes) {
    for (const door of doors) {
      const row = [runtime, door];
      for (const step of steps) {
        let r;
        try {
          r = await runStep({ command: tsgiCommand(runtime), door, step, clients, requests });
        } catch (e) {
          r = { error: String(e instanceof Error ? e.message : e).split('\n')[0] };
        }
        if (broken(step, r)) bad = true;
        row.push(cell(step, r));
        console.error(`${runtime} ${door} ${step}: ${cell(step, r)}`);
      }
      rows.push(row);
    }
  }
  const head = ['runtime', 'door', ...steps];
  console.log(`\n${clients} clients, a new connection per request, ${requests} requests per step; failed/total\n`);
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  process.exit(bad ? 1 : 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  });
}
