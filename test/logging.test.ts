/**
 * Request logs: uWSGI's line by default, --log-format, --disable-logging, --logto with reopen on
 * SIGHUP and after logrotate moves or truncates the file, and whole lines from concurrent workers.
 */
import { existsSync, readFileSync, renameSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, fetchFresh, freePort, rawExchange, run, RUNTIME, startTsgi, tempDir, tsgiCommand, tsgiFails, type Proc } from './helpers.ts';

const APP = 'test/fixtures/apps/echo.ts';
// [pid: 1|app: 0|req: 1/1] 127.0.0.1 () {15 vars in 82 bytes} [Wed Nov 25 10:00:00 2026] GET /x => generated 5 bytes in 0 msecs (HTTP/1.1 200) 2 headers in 79 bytes (1 switches on core 0)
const LINE =
  /^\[pid: (\d+)\|app: (\d+)\|req: \d+\/\d+\] (\S+) \(\) \{\d+ vars in \d+ bytes\} \[(Sun|Mon|Tue|Wed|Thu|Fri|Sat) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] (\S+) (\S+) => generated (\d+) bytes in \d+ msecs \((HTTP\/1\.[01]) (\d{3})\) \d+ headers in \d+ bytes \(1 switches on core (\d+)\)$/;

afterAll(cleanup);

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start tsgi with --logto FILE: its log, "ready" line included, is in the file. */
async function startLogging(args: string[], file: string): Promise<Proc> {
  const [cmd, pre] = tsgiCommand();
  const p = run(cmd, [...pre, ...args, '--logto', file]);
  await p.waitFor(/logging to/, 30_000);
  await until(() => existsSync(file) && readFileSync(file, 'utf8').includes('tsgi is ready'), 30_000);
  return p;
}

async function until(f: () => boolean, ms = 20_000): Promise<void> {
  for (let i = 0; i < ms / 50 && !f(); i++) await wait(50);
}

describe(`request logs (${RUNTIME})`, () => {
  test("uWSGI's line for --http-socket and --socket requests, with the real sizes", async () => {
    const [http, uwsgi] = [await freePort(), await freePort()];
    const p = await startTsgi(['--http-socket', `127.0.0.1:${http}`, '--socket', `127.0.0.1:${uwsgi}`, '--app', APP]);
    try {
      const body = await (await fetchFresh(`http://127.0.0.1:${http}/big?bytes=12345`)).arrayBuffer();
      expect(body.byteLength).toBe(12345);
      await rawExchange({ port: uwsgi }, [
        encodePacket({
          REQUEST_METHOD: 'POST',
          REQUEST_URI: '/upload?u=1',
          HTTP_HOST: 'x',
          REMOTE_ADDR: '10.1.2.3',
          SERVER_PROTOCOL: 'HTTP/1.0',
          CONTENT_LENGTH: '0',
        }),
      ]);
      await until(
        () =>
          p
            .output()
            .split('\n')
            .filter((l) => LINE.test(l)).length >= 2,
      );
      const lines = p
        .output()
        .split('\n')
        .filter((l) => l.startsWith('[pid:'));
      expect(lines).toHaveLength(2);
      const [a, b] = lines.map((l) => LINE.exec(l));
      expect(a?.slice(5, 10)).toEqual(['GET', '/big?bytes=12345', '12345', 'HTTP/1.1', '200']);
      expect(a?.[3]).toBe('127.0.0.1');
      expect(b?.[3]).toBe('10.1.2.3');
      expect(b?.slice(5, 10)).toEqual([
        'POST',
        '/upload?u=1',
        String(Buffer.byteLength(JSON.stringify({ length: 0, sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }))),
        'HTTP/1.0',
        '200',
      ]);
    } finally {
      await p.stop();
    }
  });

  test('--log-format with uWSGI variables; --disable-logging writes none', async () => {
    const port = await freePort();
    const p = await startTsgi([
      '--http-socket',
      `127.0.0.1:${port}`,
      '--app',
      APP,
      '--log-format',
      '%(addr) %(method) %(uri) %(status) %(size) pid=%(pid) wid=%(wid) ua=%(uagent) %(proto)',
    ]);
    const q = await freePort();
    const quiet = await startTsgi(['--http-socket', `127.0.0.1:${q}`, '--app', APP, '--disable-logging']);
    try {
      await (await fetchFresh(`http://127.0.0.1:${port}/pid`, { headers: { 'user-agent': 'tsgi-test/1' } })).text();
      await (await fetchFresh(`http://127.0.0.1:${q}/pid`)).text();
      await until(() => p.output().includes('ua='));
      const pid = /pid (\d+)/.exec(p.output())?.[1];
      expect(p.output()).toContain(`127.0.0.1 GET /pid 200 ${pid?.length} pid=${pid} wid=0 ua=tsgi-test/1 HTTP/1.1\n`);
      // Its last line, written after every other: the request was served and not logged.
      quiet.signal('SIGTERM');
      await quiet.waitFor(/served \d+ request\(s\); goodbye/);
      expect(quiet.output()).toContain('served 1 request(s); goodbye');
      expect(quiet.output()).not.toMatch(/GET \/pid/);
    } finally {
      await Promise.all([p.stop(), quiet.stop()]);
    }
  });

  test('an unknown --log-format variable stops tsgi at startup', async () => {
    const r = await tsgiFails(['--http-socket', '127.0.0.1:0', '--app', APP, '--log-format', '%(method) %(nope)']);
    expect(r.code).toBe(2);
    expect(r.output).toContain('--log-format: unknown variable(s) %(nope)');
  });

  test('--logto: lines go to the file; reopened after logrotate moves it, kept after a truncate, reopened on SIGHUP', async () => {
    const dir = tempDir();
    const file = join(dir, 'tsgi.log');
    const port = await freePort();
    const p = await startLogging(['--http-socket', `127.0.0.1:${port}`, '--app', APP], file);
    const get = async (path: string) => (await fetchFresh(`http://127.0.0.1:${port}${path}`)).text();
    try {
      await get('/one');
      await until(() => readFileSync(file, 'utf8').includes('GET /one'));
      expect(readFileSync(file, 'utf8')).toContain('tsgi is ready');
      expect(p.output()).not.toContain('GET /one');
      // logrotate's default: move the file away; tsgi notices within a second and starts a new one.
      renameSync(file, `${file}.1`);
      await until(() => existsSync(file));
      await get('/two');
      await until(() => existsSync(file) && readFileSync(file, 'utf8').includes('GET /two'));
      expect(readFileSync(file, 'utf8')).toContain('GET /two');
      expect(readFileSync(`${file}.1`, 'utf8')).not.toContain('GET /two');
      // copytruncate: the next line lands at the start of the emptied file.
      truncateSync(file, 0);
      await get('/three');
      await until(() => readFileSync(file, 'utf8').includes('GET /three'));
      expect(readFileSync(file, 'utf8')).toMatch(/^\[pid: \d+/);
      // SIGHUP reopens at once.
      renameSync(file, `${file}.2`);
      p.signal('SIGHUP');
      await until(() => existsSync(file));
      await get('/four');
      await until(() => existsSync(file) && readFileSync(file, 'utf8').includes('GET /four'));
      expect(readFileSync(file, 'utf8')).toContain('GET /four');
    } finally {
      await p.stop();
    }
  });

  test('two workers under concurrent load: every line whole', async () => {
    const dir = tempDir();
    const file = join(dir, 'tsgi.log');
    const port = await freePort();
    const p = await startLogging(['--http-socket', `127.0.0.1:${port}`, '--processes', '2', '--app', APP], file);
    try {
      const long = 'q'.repeat(1500);
      await Promise.all(
        Array.from({ length: 8 }, async (_, c) => {
          for (let i = 0; i < 40; i++) await (await fetchFresh(`http://127.0.0.1:${port}/echo?c=${c}&i=${i}&pad=${long}`)).arrayBuffer();
        }),
      );
      await until(
        () =>
          readFileSync(file, 'utf8')
            .split('\n')
            .filter((l) => l.startsWith('[pid:')).length >= 320,
      );
      const lines = readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.includes('/echo?c='));
      expect(lines).toHaveLength(320);
      for (const l of lines) expect(l).toMatch(LINE);
      // Both workers logged.
      expect(new Set(lines.map((l) => LINE.exec(l)?.[1])).size).toBe(2);
    } finally {
      await p.stop();
    }
  });
});
