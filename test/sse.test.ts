/**
 * Server-Sent Events reach the client event by event on every path: --http-socket, the --http
 * router, and nginx in front with proxy_pass, uwsgi_pass, fastcgi_pass and scgi_pass at their
 * default buffering. The app (fixtures/apps/sse.ts) makes the next event only after the client
 * acknowledged the last one over another request: an event held anywhere on the way stalls the
 * test, whatever the timing. tsgi says `X-Accel-Buffering: no` on an event stream so that nginx
 * does not hold it, unless the app set that header itself.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanup, fetchFresh, freePort, hasNginx, type Proc, RUNTIME, startNginx, startTsgi, tempDir } from './helpers.ts';

const APP = 'test/fixtures/apps/sse.ts';

let tsgi: Proc;
let nginx: Proc;
const port: Record<string, number> = {};

beforeAll(async () => {
  if (!hasNginx) throw new Error('nginx is not installed: apt-get install -y nginx-light');
  for (const k of ['http', 'httpSocket', 'socket', 'fastcgi', 'scgi', 'nginx']) port[k] = await freePort();
  const dir = tempDir();
  tsgi = await startTsgi([
    ...['--master', '--processes', '1', '--app', APP],
    ...['--http', `127.0.0.1:${port.http}`, '--http-socket', `127.0.0.1:${port.httpSocket}`],
    ...['--socket', `127.0.0.1:${port.socket}`, '--fastcgi-socket', `127.0.0.1:${port.fastcgi}`, '--scgi-socket', `127.0.0.1:${port.scgi}`],
    ...['--stats', join(dir, 'stats.sock')],
  ]);
  nginx = await startNginx(
    `server { listen 127.0.0.1:${port.nginx};
      location /proxy/ { proxy_pass http://127.0.0.1:${port.httpSocket}/; proxy_http_version 1.1; }
      location /uwsgi/ { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${port.socket}; }
      location /fastcgi/ { include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:${port.fastcgi}; }
      location /scgi/ { include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:${port.scgi}; }
    }`,
    port.nginx,
  );
}, 90_000);

afterAll(async () => {
  await nginx?.stop('SIGQUIT');
  await tsgi?.stop();
  await cleanup();
});

let ids = 0;

/**
 * Read the event stream at `base`/events, acknowledging each event at `base`/ack before the app
 * makes the next; resolves with the events' data lines and the answer's headers.
 */
async function readReleased(base: string): Promise<{ events: string[]; headers: Headers }> {
  const id = `${RUNTIME}-${++ids}`;
  const res = await fetchFresh(`${base}/events?id=${id}`);
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const dec = new TextDecoder();
  let text = '';
  const events: string[] = [];
  for (let n = 1; n <= 3; n++) {
    while (!text.includes('\n\n')) {
      const r = await reader.read();
      if (r.done) throw new Error(`the stream ended before event ${n}; got ${JSON.stringify(text)}`);
      text += dec.decode(r.value, { stream: true });
    }
    const end = text.indexOf('\n\n');
    events.push(
      text
        .slice(0, end)
        .split('\n')
        .find((l) => l.startsWith('data: ')) ?? '',
    );
    text = text.slice(end + 2);
    const ack = await fetchFresh(`${base}/ack?id=${id}&n=${n}`);
    expect(await ack.text()).toBe('acknowledged');
  }
  expect((await reader.read()).done).toBe(true);
  return { events, headers: res.headers };
}

const EVENTS = ['data: event 1', 'data: event 2', 'data: event 3'];

describe(`each event reaches the client before the next is made (${RUNTIME})`, () => {
  const paths: Array<[string, () => string]> = [
    ['--http-socket', () => `http://127.0.0.1:${port.httpSocket}`],
    ['the --http router', () => `http://127.0.0.1:${port.http}`],
    ['nginx proxy_pass → --http-socket', () => `http://127.0.0.1:${port.nginx}/proxy`],
    ['nginx uwsgi_pass → --socket', () => `http://127.0.0.1:${port.nginx}/uwsgi`],
    ['nginx fastcgi_pass → --fastcgi-socket', () => `http://127.0.0.1:${port.nginx}/fastcgi`],
    ['nginx scgi_pass → --scgi-socket', () => `http://127.0.0.1:${port.nginx}/scgi`],
  ];
  test.each(paths)('%s', async (_name, base) => {
    const { events } = await readReleased(base());
    expect(events).toEqual(EVENTS);
  });
});

test('an event stream says X-Accel-Buffering: no (for nginx), on the runtime server and through the router', async () => {
  for (const p of [port.httpSocket, port.http]) {
    const { headers } = await readReleased(`http://127.0.0.1:${p}`);
    expect(headers.get('x-accel-buffering')).toBe('no');
  }
});

test("the app's own X-Accel-Buffering is kept", async () => {
  const res = await fetchFresh(`http://127.0.0.1:${port.httpSocket}/events?id=own&own=yes`);
  expect(res.headers.get('x-accel-buffering')).toBe('yes');
  await res.body?.cancel();
});
