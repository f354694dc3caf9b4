/**
 * The linger of a connection tsgi closed (runtimes/linger.ts): after the answer and its FIN, the
 * worker still reads and drops what the peer sends (closing over unread bytes would reset the
 * connection under the answer), and drops a peer that never closes its side after LINGER_MS —
 * one shared timer for all such connections (runtimes/deadlines.ts), not one per connection.
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { LINGER_MS } from '../runtimes/linger.ts';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, RUNTIME, startTsgi, tempDir } from './helpers.ts';

afterAll(cleanup);

interface Outcome {
  answer: string;
  /** ms from the worker's FIN to the reset that says it closed (null: it never did within the bound). */
  droppedAfter: number | null;
}

/** Send a request, never close our side, and keep sending a byte now and then once the answer is in. */
function neverClosing(path: string, packet: Uint8Array, boundMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect({ path, allowHalfOpen: true });
    let answer = '';
    let finAt = 0;
    let poke: ReturnType<typeof setInterval> | undefined;
    const done = (droppedAfter: number | null) => {
      clearInterval(poke);
      clearTimeout(bound);
      s.destroy();
      resolve({ answer, droppedAfter });
    };
    const bound = setTimeout(() => done(null), boundMs);
    s.on('connect', () => s.write(packet));
    s.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    s.on('end', () => {
      finAt = performance.now();
      // Bytes to a socket the worker has closed come back as a reset.
      poke = setInterval(() => s.write('x'), 100);
    });
    s.on('error', () => {});
    s.on('close', () => done(finAt > 0 ? performance.now() - finAt : null));
  });
}

describe(`linger (${RUNTIME})`, () => {
  test('a peer that never closes its side is dropped after LINGER_MS, and not before', async () => {
    const dir = tempDir();
    const sock = join(dir, 'u.sock');
    await startTsgi(['--socket', sock, '--app', 'examples/hello.ts', '--disable-logging']);
    const packet = encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: '/', PATH_INFO: '/', SERVER_PROTOCOL: 'HTTP/1.1', HTTP_HOST: 'x' });
    const out = await neverClosing(sock, packet, LINGER_MS + 15_000);
    expect(out.answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nHello from tsgi: GET \/\n$/);
    expect(out.droppedAfter).not.toBeNull();
    // The bytes sent meanwhile were read and dropped, not answered with a reset.
    expect(out.droppedAfter as number).toBeGreaterThanOrEqual(LINGER_MS - 200);
  }, 40_000);
});
