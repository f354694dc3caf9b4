// The uwsgi path and tsgi's own HTTP/1.1 server write a body the app gave as a string or bytes as
// it is (runtimes/kept-body.ts, on every runtime), and read any other body through the Response's
// stream; either way the answer is the same bytes.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, type Proc, RUNTIME, rawExchange, startTsgi } from './helpers.ts';

async function get(path: string): Promise<Buffer> {
  const r = await rawExchange({ port }, [encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: path, PATH_INFO: path, HTTP_HOST: 'x' })]);
  return r.data;
}

const body = (answer: Buffer) => answer.subarray(answer.indexOf('\r\n\r\n') + 4);

let tsgi: Proc;
let port: number;
beforeAll(async () => {
  port = await freePort();
  tsgi = await startTsgi(['--socket', `127.0.0.1:${port}`, '--app', 'test/fixtures/apps/kept-body.ts']);
  // Bodies are kept from the worker's first answer on (its Response was made before): that one is read through its stream.
  expect(body(await get('/first')).toString()).toBe('hello /first ✓');
}, 60_000);
afterAll(async () => {
  await tsgi?.stop();
  await cleanup();
});

describe(`--socket answers with a kept body (${RUNTIME})`, () => {
  test('a string body: the same bytes and Content-Length, written as given (the stream never read)', async () => {
    const answer = await get('/text');
    expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer.toString()).toMatch(/\r\nx-kept: yes\r\n/i);
    expect(body(answer).toString()).toBe('hello /text ✓');
    expect(answer.toString()).toMatch(new RegExp(`\\r\\ncontent-length: ${Buffer.byteLength('hello /text ✓')}\\r\\n`, 'i'));
    expect(body(await get('/was-read')).toString()).toBe('false');
  });

  test('a byte body, and a stream body (read through its stream everywhere)', async () => {
    expect([...body(await get('/bytes'))]).toEqual([104, 105, 0, 255]);
    expect(body(await get('/was-read')).toString()).toBe('false');
    expect(body(await get('/stream')).toString()).toBe('from a stream');
    expect(body(await get('/was-read')).toString()).toBe('true');
  });
});

// Behind the runtime's own HTTP server the request log needs each answer's size: a body the app
// gave whole is counted as it was given (Runtime.keptSizes), not read back through its stream.
describe(`--http-socket with the request log counts a kept body without reading it (${RUNTIME})`, () => {
  let http: Proc;
  let httpPort: number;
  const fetchText = async (path: string) => (await fetch(`http://127.0.0.1:${httpPort}${path}`)).text();
  beforeAll(async () => {
    httpPort = await freePort();
    http = await startTsgi(['--http-socket', `127.0.0.1:${httpPort}`, '--app', 'test/fixtures/apps/kept-body.ts']);
    // Sizes are kept from the first answer on (its Response was made before).
    expect(await fetchText('/first')).toBe('hello /first ✓');
  }, 60_000);
  afterAll(async () => {
    await http?.stop();
  });

  test('a string body: sent whole, logged with its UTF-8 size, and its stream never read', async () => {
    expect(await fetchText('/text')).toBe('hello /text ✓');
    // Bun.serve and Deno.serve consume the body when they send it; node:http (Hono's adapter) never reads it.
    expect(await fetchText('/was-read')).toBe(RUNTIME === 'node' ? 'false' : 'true');
    await http.waitFor(new RegExp(`GET /text => generated ${Buffer.byteLength('hello /text ✓')} bytes`));
  });

  test('a stream body is still counted as it goes', async () => {
    expect(await fetchText('/stream')).toBe('from a stream');
    await http.waitFor(/GET \/stream => generated 13 bytes/);
  });
});

// Under a master, Bun's and Deno's workers serve the master's socket with tsgi's own HTTP/1.1
// server (Bun.serve and Deno.serve take no fd); Node's with node:http.
describe.skipIf(RUNTIME === 'node')(`tsgi's own HTTP/1.1 server writes a kept body as given (${RUNTIME})`, () => {
  let http: Proc;
  let httpPort: number;
  const answer = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`);
    return { text: await res.text(), length: res.headers.get('content-length') };
  };
  beforeAll(async () => {
    httpPort = await freePort();
    http = await startTsgi(['--master', '--processes', '1', '--http-socket', `127.0.0.1:${httpPort}`, '--app', 'test/fixtures/apps/kept-body.ts']);
    await http.waitFor(/tsgi is ready/);
    expect((await answer('/first')).text).toBe('hello /first ✓');
  }, 60_000);
  afterAll(async () => {
    await http?.stop();
  });

  test('a string body and a byte body: the same bytes and Content-Length, their streams never read', async () => {
    expect(await answer('/text')).toEqual({ text: 'hello /text ✓', length: String(Buffer.byteLength('hello /text ✓')) });
    expect((await answer('/was-read')).text).toBe('false');
    expect((await answer('/bytes')).length).toBe('4');
    expect((await answer('/was-read')).text).toBe('false');
    await http.waitFor(new RegExp(`GET /text => generated ${Buffer.byteLength('hello /text ✓')} bytes`));
  });

  test('a stream body is read through its stream', async () => {
    expect((await answer('/stream')).text).toBe('from a stream');
    expect((await answer('/was-read')).text).toBe('true');
  });
});
