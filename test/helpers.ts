/**
 * Integration helpers: start tsgi (on the runtime running the tests), nginx, free ports, and
 * clean up every process started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectRuntime } from '../runtimes/detect.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const RUNTIME = detectRuntime();

/**
 * The Node under test is the one running the tests (process.execPath: `npm test` starts vitest
 * on each Node line it tests, `PATH=DIR:$PATH npx vitest` on the node in DIR): every command below
 * runs it, and tsgi's children run their parent's binary in turn.
 */
const NODE_STRIPS_TYPES = RUNTIME === 'node' && Boolean((process.features as { typescript?: unknown }).typescript);

/** argv that runs a TypeScript program on this same runtime (tsx's loader on Node without type stripping). */
export function scriptCommand(file: string): [string, string[]] {
  switch (RUNTIME) {
    case 'bun':
      return [process.execPath, [file]];
    case 'deno':
      return [process.execPath, ['run', '-A', file]];
    default:
      return [process.execPath, NODE_STRIPS_TYPES ? [file] : ['--import', 'tsx', file]];
  }
}

/** argv that starts tsgi on this same runtime. */
export function tsgiCommand(): [string, string[]] {
  switch (RUNTIME) {
    case 'bun':
      return [process.execPath, [join(ROOT, 'bin/tsgi.js')]];
    case 'deno':
      return [process.execPath, ['run', '-A', join(ROOT, 'bin/tsgi.js')]];
    default:
      return [process.execPath, [join(ROOT, 'bin/tsgi.js')]];
  }
}

const started: ChildProcess[] = [];
const dirs: string[] = [];

export function tempDir(prefix = 'tsgi-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(d, 0o755); // nginx's workers (www-data) must reach sockets in it
  dirs.push(d);
  return d;
}

/** Is process `pid` still running? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
/** Ports this test process has handed out: the kernel may give a closed port 0 again at once. */
const givenPorts = new Set<number>();

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A free port on 127.0.0.1, never one this process has handed out before (bounded tries). */
export async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await kernelPort();
    if (givenPorts.has(port)) continue;
    givenPorts.add(port);
    return port;
  }
  throw new Error('freePort: the kernel kept giving ports this test already uses');
}

export interface Proc {
  child: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Wait for a line matching re (bounded). */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Send a signal with process.kill (Deno's ChildProcess.kill marks the child exited at once). */
  signal(sig: NodeJS.Signals): void;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string>; stdin?: boolean } = {}): Proc {
  const stdio = [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] as const;
  const child = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, stdio: [...stdio] });
  started.push(child);
  let out = '';
  let waiters: Array<() => void> = [];
  const onChunk = (b: Buffer) => {
    out += b.toString();
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onChunk);
  child.stderr?.on('data', onChunk);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    }),
  );
  let done = false;
  void exited.then(() => (done = true));
  const signal = (sig: NodeJS.Signals) => {
    try {
      if (child.pid) process.kill(child.pid, sig);
    } catch {
      // gone
    }
  };
  const gone = () => {
    try {
      process.kill(child.pid ?? -1, 0);
      return false;
    } catch {
      return true;
    }
  };
  return {
    child,
    output: () => out,
    exited,
    waitFor(re, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) {
            waiters = waiters.filter((w) => w !== check);
            clearTimeout(timer);
            resolve(m[0]);
          } else if (done) {
            clearTimeout(timer);
            reject(new Error(`process exited before printing ${re}; output:\n${out}`));
          }
        };
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== check);
          reject(new Error(`timed out after ${ms} ms waiting for ${re}; output:\n${out}`));
        }, ms);
        waiters.push(check);
        check();
      });
    },
    signal,
    async stop(sig = 'SIGTERM') {
      signal(sig);
      const timer = setTimeout(() => signal('SIGKILL'), 10_000);
      const r = await exited;
      // Deno may report the exit before it happens: wait (bounded) until the pid is gone.
      for (let i = 0; i < 120 && !gone(); i++) await new Promise((res) => setTimeout(res, 100));
      clearTimeout(timer);
      return r;
    },
  };
}

/**
 * Did the process exit 0 after a signal we sent? Deno's node:child_process reports a child we
 * signalled as killed by that signal even when the child handled it and exited 0 (seen with
 * Deno 2.9, with a plain Deno.addSignalListener child too), so on Deno the log line the
 * process writes last is the evidence instead.
 */
export function exitedCleanly(p: Proc, r: { code: number | null; signal: NodeJS.Signals | null }, lastLine = /goodbye/): boolean {
  if (r.code === 0 && r.signal === null) return true;
  return RUNTIME === 'deno' && r.code === null && lastLine.test(p.output());
}

/** The master's pid, from its start line; null before it has written it. */
export function masterPid(output: string): number | null {
  const m = /tsgi master \(pid: (\d+)\)/.exec(output);
  return m ? Number(m[1]) : null;
}

/**
 * Under --master, is a launcher in front of the master? On Deno, yes; Bun and Node bind bare
 * sockets (Runtime.bareBinder) and the process started is the master itself.
 */
export function hasLauncher(p: Proc): boolean {
  return masterPid(p.output()) !== p.child.pid;
}

/** Start tsgi with these arguments and wait until it says it is ready. */
export async function startTsgi(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<Proc> {
  const [cmd, pre] = tsgiCommand();
  const p = run(cmd, [...pre, ...args], opts);
  await p.waitFor(/tsgi is ready/, 60_000);
  return p;
}

/** Run tsgi expecting it to fail at startup; resolves with its exit code and output. */
export async function tsgiFails(args: string[], opts: { cwd?: string } = {}): Promise<{ code: number | null; output: string }> {
  const [cmd, pre] = tsgiCommand();
  const p = run(cmd, [...pre, ...args], opts);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, output: p.output() };
}

export const NGINX = '/usr/sbin/nginx';
export const hasNginx = existsSync(NGINX);

/**
 * An nginx prefix directory of its own (temp dirs its workers can write) with an nginx.conf around
 * these `http` blocks; returns nginx's arguments to run it in the foreground there.
 */
export function nginxConfig(servers: string, opts: { workerConnections?: number; prefix?: string } = {}): string[] {
  const dir = tempDir(opts.prefix ?? 'tsgi-nginx-');
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
    mkdirSync(join(dir, d));
    chmodSync(join(dir, d), 0o777);
  }
  const user = process.getuid?.() === 0 ? 'user www-data;' : '';
  const conf = `${user}
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${opts.workerConnections ?? 1024}; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 64m;
${servers}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')];
}

/** Start nginx (workers as www-data when root) with these server blocks; resolves when it answers. */
export async function startNginx(servers: string, port: number): Promise<Proc> {
  const p = run(NGINX, nginxConfig(servers));
  if (await until(() => canConnect(port), 30_000)) return p;
  throw new Error(`nginx did not start on ${port}: ${p.output()}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * fetch on a connection of its own that closes after the answer: never one kept alive from an
 * earlier request, which the server (uWSGI's --http-socket, a stopped worker, an idle timeout)
 * may have closed meanwhile — undici would reuse it and fail with "other side closed".
 */
export function fetchFresh(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('connection', 'close');
  return fetch(input, { ...init, headers });
}

/** Wait until cond holds, checking every 50 ms, for at most ms; resolves with its last value. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** Send raw bytes to a socket and collect everything until the server closes (bounded). */
export function rawExchange(target: { port: number } | { path: string }, chunks: Uint8Array[], ms = 10_000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = 'port' in target ? net.connect(target.port, '127.0.0.1') : net.connect(target.path);
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ data: Buffer.concat(parts), closed: false });
    }, ms);
    s.on('data', (d) => parts.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(parts), closed: true });
    });
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
    });
  });
}

/** Kill every process the tests started and remove temp dirs. Call in afterAll. */
export async function cleanup(): Promise<void> {
  for (const c of started) {
    try {
      if (c.pid) process.kill(c.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started.length = 0;
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.length = 0;
}

/** A local HTTP server that answers every request with what it got, as JSON: method, url, headers (not host/connection/keep-alive), body. */
export async function echoServer(): Promise<{ server: Server; host: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { host: _h, connection: _c, 'keep-alive': _k, ...headers } = req.headers;
      res.setHeader('connection', 'close');
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ method: req.method, url: req.url, headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, host, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
