/**
 * --stats: uWSGI's schema (checked against a real uWSGI 2.0.21 document), counters that move
 * with traffic, answers while every worker is busy, --stats-http with Prometheus at /metrics.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, masterPid, rawExchange, RUNTIME, startTsgi, tempDir, tsgiFails, until } from './helpers.ts';

afterAll(cleanup);

const APP = 'test/fixtures/apps/echo.ts';
const UWSGI = JSON.parse(readFileSync(new URL('./vectors/uwsgi-2.0.21-stats.json', import.meta.url), 'utf8')) as Record<string, unknown>;
type Doc = Record<string, unknown> & { workers: Array<Record<string, unknown> & { cores: Array<Record<string, unknown>> }> };

const get = (path: string) => encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: path, HTTP_HOST: 'x' });

async function readStats(target: { port: number } | { path: string }): Promise<{ text: string; doc: Doc }> {
  const r = await rawExchange(target, []);
  const text = r.data.toString();
  return { text, doc: JSON.parse(text) as Doc };
}

async function httpGet(port: number, path: string): Promise<{ head: string; body: string }> {
  const r = await rawExchange({ port }, [new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`)]);
  const text = r.data.toString();
  const cut = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, cut), body: text.slice(cut + 4) };
}

/** Same keys, same JSON types, as uWSGI's document (recursively into the first list items). */
function sameShape(ours: unknown, theirs: unknown, at: string): void {
  const kind = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);
  expect(kind(ours), at).toBe(kind(theirs));
  if (Number.isInteger(theirs)) expect(Number.isInteger(ours), `${at} is not a whole number: ${String(ours)}`).toBe(true);
  if (Array.isArray(theirs) && theirs.length > 0 && Array.isArray(ours) && at !== '.locks') {
    expect(ours.length, `${at} is empty`).toBeGreaterThan(0);
    sameShape(ours[0], theirs[0], `${at}[0]`);
  } else if (kind(theirs) === 'object') {
    for (const k of Object.keys(theirs as object)) {
      expect(ours as object, `${at} lacks ${k}`).toHaveProperty([k]);
      sameShape((ours as Record<string, unknown>)[k], (theirs as Record<string, unknown>)[k], `${at}.${k}`);
    }
  }
}

describe(`--stats (${RUNTIME})`, () => {
  test("uWSGI's schema, real figures, counters that move with traffic", async () => {
    const port = await freePort();
    const stats = await freePort();
    const p = await startTsgi(['--master', '--processes', '2', '--socket', `127.0.0.1:${port}`, '--stats', `127.0.0.1:${stats}`, '--app', APP]);
    const first = await readStats({ port: stats });
    sameShape(first.doc, UWSGI, '');
    expect(first.text.split('\n').length).toBeGreaterThan(20); // pretty-printed with tabs, as uWSGI
    expect(first.text).toContain('\n\t"version"');
    expect(first.doc.pid).toBe(masterPid(p.output()));
    for (const w of first.doc.workers) {
      expect(w.rss as number).toBeGreaterThan(10 * 1024 * 1024); // bytes, from the OS
      expect(w.vsz as number).toBeGreaterThan(w.rss as number);
      expect(w.requests).toBe(0);
    }
    expect((first.doc.tsgi as Record<string, string>).runtime).toBe(RUNTIME);

    for (let i = 0; i < 8; i++) await rawExchange({ port }, [get('/big?bytes=1000')]);
    await rawExchange({ port }, [get('/sleep?ms=3')]); // sub-millisecond sums must stay whole µs
    await rawExchange({ port }, [get('/throw')]);
    await rawExchange({ port }, [get('/reject')]);
    // Workers report every second: read until their reports have the 11 requests. Each read
    // resets delta_requests, so the deltas of all the reads add up to 11.
    let doc = first.doc;
    let deltas = 0;
    const total = (k: string) => doc.workers.reduce((n, w) => n + (w[k] as number), 0);
    await until(async () => {
      doc = (await readStats({ port: stats })).doc;
      deltas += total('delta_requests');
      return total('requests') >= 11;
    }, 20_000);
    sameShape(doc, UWSGI, '');
    expect(total('requests')).toBe(11);
    expect(deltas).toBe(11);
    expect(total('exceptions')).toBe(2);
    expect(total('tx')).toBeGreaterThanOrEqual(8000);
    expect(doc.workers.reduce((n, w) => n + w.cores.reduce((m, c) => m + (c.requests as number), 0), 0)).toBe(11);
    for (const w of doc.workers) if ((w.requests as number) > 0) expect(w.avg_rt as number).toBeGreaterThan(0);
    const again = await readStats({ port: stats });
    expect(again.doc.workers.reduce((n, w) => n + (w.delta_requests as number), 0)).toBe(0);
    await p.stop();
  });

  test('answers while every worker is busy, and shows them busy', async () => {
    const port = await freePort();
    const stats = await freePort();
    const p = await startTsgi(['--master', '--processes', '2', '--socket', `127.0.0.1:${port}`, '--stats', `127.0.0.1:${stats}`, '--app', APP]);
    // Each worker blocks its event loop for 8 s; the second request is sent once the first runs.
    const busy = async () => (await readStats({ port: stats })).doc.workers.filter((w) => w.status === 'busy').length;
    const a = rawExchange({ port }, [get('/spin?ms=8000')], 30_000);
    expect(await until(async () => (await busy()) === 1, 15_000)).toBe(true);
    const b = rawExchange({ port }, [get('/spin?ms=8000')], 30_000);
    expect(await until(async () => (await busy()) === 2, 15_000)).toBe(true);
    const t0 = Date.now();
    const { doc } = await readStats({ port: stats });
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(doc.workers.map((w) => w.status)).toEqual(['busy', 'busy']);
    expect(doc.load).toBe(2);
    await Promise.all([a, b]);
    await p.stop();
  });

  test('--stats-http: JSON at /, Prometheus text at /metrics; --stats-minified', async () => {
    const port = await freePort();
    const stats = await freePort();
    const p = await startTsgi([
      '--processes',
      '2',
      '--socket',
      `127.0.0.1:${port}`,
      '--stats',
      `127.0.0.1:${stats}`,
      '--stats-http',
      '--stats-minified',
      '--app',
      APP,
    ]);
    for (let i = 0; i < 5; i++) await rawExchange({ port }, [get('/sleep?ms=30')]);
    // Workers report every second: wait until their reports have the 5 requests.
    const requests = async () => (JSON.parse((await httpGet(stats, '/')).body) as Doc).workers.reduce((n, w) => n + (w.requests as number), 0);
    await until(async () => (await requests()) >= 5, 20_000);
    const json = await httpGet(stats, '/');
    expect(json.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(json.head).toMatch(/\r\nContent-Type: application\/json\r\n/i);
    expect(json.body.trim().split('\n')).toHaveLength(1); // minified
    const doc = JSON.parse(json.body) as Doc;
    const metrics = await httpGet(stats, '/metrics');
    expect(metrics.head).toMatch(/Content-Type: text\/plain; version=0\.0\.4/);
    const samples = parsePrometheus(metrics.body);
    const sum = (name: string) => samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
    expect(sum('tsgi_worker_requests_total')).toBe(doc.workers.reduce((n, w) => n + (w.requests as number), 0));
    expect(sum('tsgi_worker_requests_total')).toBe(5);
    expect(samples.filter((s) => s.name === 'tsgi_worker_rss_bytes').every((s) => s.value > 0)).toBe(true);
    for (const worker of ['1', '2']) {
      const buckets = samples.filter((s) => s.name === 'tsgi_request_duration_seconds_bucket' && s.labels.worker === worker);
      expect(buckets.at(-1)?.labels.le).toBe('+Inf');
      for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
      const count = samples.find((s) => s.name === 'tsgi_request_duration_seconds_count' && s.labels.worker === worker);
      expect(count?.value).toBe(buckets.at(-1)?.value);
    }
    // 30 ms requests: none in the 5 ms and 10 ms buckets, all by 0.05 s (or a little later).
    expect(samples.filter((s) => s.name === 'tsgi_request_duration_seconds_bucket' && s.labels.le === '0.01').every((s) => s.value === 0)).toBe(true);
    await p.stop();
  });

  test('on a UNIX socket; a stats address in use stops tsgi with one line', async () => {
    const port = await freePort();
    const path = join(tempDir(), 'stats.sock');
    const p = await startTsgi(['--master', '--socket', `127.0.0.1:${port}`, '--stats', path, '--app', APP]);
    const { doc } = await readStats({ path });
    expect(doc.workers).toHaveLength(1);
    await p.stop();
    const busy = net.createServer();
    const taken = await new Promise<number>((r) => busy.listen(0, '127.0.0.1', () => r((busy.address() as net.AddressInfo).port)));
    try {
      const r = await tsgiFails(['--master', '--socket', `127.0.0.1:${await freePort()}`, '--stats', `127.0.0.1:${taken}`, '--app', APP]);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(new RegExp(`--stats 127\\.0\\.0\\.1:${taken}: cannot bind TCP address 127\\.0\\.0\\.1:${taken}: address already in use`));
    } finally {
      busy.close();
    }
  });
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict reader of the Prometheus text format: every line a comment or a valid sample. */
function parsePrometheus(text: string): Sample[] {
  const typed = new Set<string>();
  const samples: Sample[] = [];
  for (const line of text.trimEnd().split('\n')) {
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      typed.add(type[1]);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*)\})? (-?[0-9.e+]+|\+Inf|NaN)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus text line: ${JSON.stringify(line)}`);
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    if (!typed.has(m[1]) && !typed.has(family)) throw new Error(`sample before its # TYPE: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}
