// A uwsgi request packet for the in-memory connection tests (uwsgi-conn, internal-conn).
import { concatBytes, encodePacket } from '../../src/codec/index.ts';

/** The vars nginx would send for `method uri` (CONTENT_LENGTH with a body), then `more`, then the body. */
export function packet(method: string, uri: string, body?: string, more: Array<[string, string]> = []): Uint8Array {
  const vars: Array<[string, string]> = [
    ['REQUEST_METHOD', method],
    ['REQUEST_URI', uri],
    ['PATH_INFO', uri.split('?')[0]],
    ['QUERY_STRING', uri.split('?')[1] ?? ''],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['HTTP_HOST', 'example.test'],
    ...(body !== undefined ? ([['CONTENT_LENGTH', String(body.length)]] as Array<[string, string]>) : []),
    ...more,
  ];
  const head = encodePacket(vars);
  if (body === undefined) return head;
  const bytes = new TextEncoder().encode(body);
  return concatBytes([head, bytes], head.length + bytes.length);
}
