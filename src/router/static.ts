/**
 * uWSGI's `--static-map /PREFIX=DIR` as Hono middleware: GET and HEAD requests under PREFIX are
 * answered from the file DIR/rest-of-path, with the validators and ranges browsers and CDNs rely
 * on (ETag, Last-Modified, 304, 206, 416). As in uWSGI, a file that is not there (or a
 * directory) is not an error: the request falls through to the app with `next()`.
 *
 * The path is decoded once and refused with 403 if it could leave DIR (a `..` segment, a
 * backslash, a NUL); the file's real path must also lie inside DIR's real path, so a symlink
 * pointing out of DIR is refused too. Bodies stream from a FileHandle through a pull-based
 * ReadableStream (read only as fast as the client takes them, the file closed on the last chunk
 * or on cancel). Only node:fs and node:path, so the same code runs on Node, Bun and Deno alike.
 */
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { open, realpath, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { MiddlewareHandler } from 'hono';
import { plainAnswer } from '../worker/respond.ts';

const TEXT = '; charset=utf-8';
const TYPES: Record<string, string> = {
  '.html': 'text/html' + TEXT,
  '.htm': 'text/html' + TEXT,
  '.css': 'text/css' + TEXT,
  '.js': 'text/javascript' + TEXT,
  '.mjs': 'text/javascript' + TEXT,
  '.json': 'application/json' + TEXT,
  '.map': 'application/json' + TEXT,
  '.txt': 'text/plain' + TEXT,
  '.svg': 'image/svg+xml' + TEXT,
  '.xml': 'application/xml' + TEXT,
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
};

/** The Content-Type for a file name, by its extension (case-insensitive). */
export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

/** `--static-map` value "/static=public" -> { prefix: "/static", dir: <cwd>/public }. */
export function parseStaticMap(spec: string, cwd: string): { prefix: string; dir: string } {
  const eq = spec.indexOf('=');
  if (eq < 0) throw new Error(`--static-map "${spec}": expected /PREFIX=DIR (no "=" found)`);
  let prefix = spec.slice(0, eq);
  const dir = spec.slice(eq + 1);
  if (!prefix.startsWith('/')) throw new Error(`--static-map "${spec}": the prefix "${prefix}" must start with "/"`);
  if (dir === '') throw new Error(`--static-map "${spec}": the directory after "=" is empty`);
  while (prefix.length > 1 && prefix.endsWith('/')) prefix = prefix.slice(0, -1);
  return { prefix, dir: resolve(cwd, dir) };
}

/** Is `p` `root` or inside it? (Both absolute and normalized.) */
const inside = (p: string, root: string): boolean => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

export function staticMap(prefix: string, dir: string): MiddlewareHandler {
  const files = new StaticDir(prefix, dir);
  return async (c, next) => (await files.answer(c.req.raw)) ?? next();
}

/** A file found for a request: the name asked for (its type) and the resolved path (its bytes). */
interface Found {
  file: string;
  real: string;
}

/** One --static-map: the files of a directory under a URL prefix. */
class StaticDir {
  /**
   * Matched against the URL's path as it arrives (percent-encoded), so the prefix is encoded the
   * same way; "/" maps everything (and becomes "").
   */
  readonly #base: string;
  readonly #root: string;

  constructor(prefix: string, dir: string) {
    this.#base = encodeURI(prefix.replace(/\/+$/, ''));
    this.#root = resolve(dir);
  }

  /** The answer to a request under the prefix; null: not a file here (the app's turn, as in uWSGI). */
  async answer(req: Request): Promise<Response | null> {
    const method = req.method;
    const path = new URL(req.url).pathname;
    if ((method !== 'GET' && method !== 'HEAD') || !(path === this.#base || path.startsWith(`${this.#base}/`))) return null;
    const found = await this.#find(path.slice(this.#base.length));
    return found === null || found instanceof Response ? found : serveFile(found, req);
  }

  /** The file an encoded path below the prefix names, a refusal, or null (none: missing, a directory…). */
  async #find(encoded: string): Promise<Found | Response | null> {
    let rel: string;
    try {
      rel = decodeURIComponent(encoded); // once: "%252e" names a file "%2e"
    } catch {
      return plainAnswer(400, 'Bad Request: malformed percent-escape in the path');
    }
    const refused = unsafePath(rel);
    if (refused) return plainAnswer(403, `Forbidden: ${refused}`);
    const root = this.#root;
    const file = join(root, rel);
    if (!inside(file, root)) return plainAnswer(403, 'Forbidden: path outside the static directory');
    let real: string;
    let realRoot: string;
    try {
      [realRoot, real] = await Promise.all([realpath(root), realpath(file)]);
    } catch {
      return null; // missing (ENOENT, ENOTDIR...)
    }
    if (!inside(real, realRoot)) return plainAnswer(403, 'Forbidden: the file resolves outside the static directory');
    // A directory (no index files) is the app's too; checked before open, which would block on a FIFO.
    const isFile = await stat(real).then(
      (st) => st.isFile(),
      () => false,
    );
    return isFile ? { file, real } : null;
  }
}

/**
 * The URL parser already removes plain "/../", but not "..%2f" or "%5c": anything that could step
 * out of the directory is refused rather than normalized. Returns why, or null.
 */
function unsafePath(rel: string): string | null {
  if (rel.includes('\0')) return 'NUL byte in the path';
  if (rel.includes('\\')) return 'backslash in the path';
  if (rel.split('/').includes('..')) return '".." in the path';
  return null;
}

/** Open the resolved path and stat the open file, so headers and bytes describe one file. */
async function serveFile(found: Found, req: Request): Promise<Response | null> {
  let fh: FileHandle;
  try {
    fh = await open(found.real, 'r');
  } catch {
    return null;
  }
  let handed = false; // once the stream owns fh, it closes it
  try {
    const st = await fh.stat();
    if (!st.isFile()) return null; // swapped since the stat in #find
    const answer = fileAnswer(st, found.file, req);
    if (answer instanceof Response) return answer;
    handed = true;
    return new Response(fileStream(fh, answer.start, answer.length), { status: answer.status, headers: answer.headers });
  } finally {
    if (!handed) await fh.close().catch(() => {});
  }
}

/** What to send of a file: an answer without its bytes (304, 416, HEAD, empty), or the part to stream. */
function fileAnswer(st: Stats, file: string, req: Request): Response | { status: number; headers: Headers; start: number; length: number } {
  const size = st.size;
  const mtimeSec = Math.floor(st.mtimeMs / 1000) * 1000; // HTTP dates have second precision
  const etag = `W/"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  const headers = new Headers({ etag, 'last-modified': new Date(mtimeSec).toUTCString(), 'accept-ranges': 'bytes' });
  const h = req.headers;
  if (notModified(h, etag, mtimeSec)) return new Response(null, { status: 304, headers });
  headers.set('content-type', contentType(file)); // the name asked for, not a symlink's target
  const range = rangeFor(h.get('range'), h.get('if-range'), etag, mtimeSec, size);
  if (range === 'unsatisfiable') {
    headers.set('content-range', `bytes */${size}`);
    headers.set('content-length', '0');
    return new Response(null, { status: 416, headers });
  }
  const [start, end] = range ?? [0, size - 1]; // inclusive
  if (range) headers.set('content-range', `bytes ${start}-${end}/${size}`);
  const status = range ? 206 : 200;
  const length = end - start + 1;
  headers.set('content-length', String(length));
  // HEAD gets GET's headers (206 included) and no body.
  if (req.method === 'HEAD' || length === 0) return new Response(null, { status, headers });
  return { status, headers, start, length };
}

/** If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2); both compare weakly. */
function notModified(h: Headers, etag: string, mtimeSec: number): boolean {
  const inm = h.get('if-none-match');
  if (inm !== null) return inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag.slice(2));
  const ims = h.get('if-modified-since');
  return ims !== null && !Number.isNaN(Date.parse(ims)) && mtimeSec <= Date.parse(ims);
}

/**
 * The byte range [start, end] a GET should serve, null for the whole file, or 'unsatisfiable'.
 * Only a single range is honoured: for "a-b,c-d" the whole file is served with 200, which
 * RFC 9110 allows and spares us multipart/byteranges. A malformed Range is ignored, as is any
 * Range whose If-Range does not match (the file changed: send all of it). Our ETags are weak, and
 * If-Range strictly wants a strong one; we accept our own exact ETag back since it encodes size
 * and mtime to the millisecond.
 */
function rangeFor(range: string | null, ifRange: string | null, etag: string, mtimeSec: number, size: number): [number, number] | 'unsatisfiable' | null {
  if (range === null) return null;
  if (ifRange !== null) {
    const v = ifRange.trim();
    const ok = v.startsWith('"') || v.startsWith('W/') ? v === etag : Date.parse(v) === mtimeSec;
    if (!ok) return null;
  }
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(range);
  if (!m) return null; // multiple ranges, another unit, or garbage
  const [, a, b] = m;
  let start: number;
  let end: number;
  if (a === '') {
    if (b === '') return null;
    start = Math.max(0, size - Number(b)); // suffix: the last n bytes ("-0" is unsatisfiable)
    end = size - 1;
  } else {
    start = Number(a);
    if (b !== '' && Number(b) < start) return null; // "5-2" is invalid, so ignored (not unsatisfiable)
    end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  }
  return start >= size || start > end ? 'unsatisfiable' : [start, end];
}

const CHUNK = 64 * 1024;

/** `length` bytes of `fh` from `start`, read on demand; `fh` is closed at the end, on error or cancel. */
function fileStream(fh: FileHandle, start: number, length: number): ReadableStream<Uint8Array> {
  let pos = start;
  let left = length;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await fh.close().catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const buf = new Uint8Array(Math.min(CHUNK, left));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) throw new Error('the file shrank while it was being sent');
        pos += bytesRead;
        left -= bytesRead;
        controller.enqueue(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        if (left === 0) {
          await close();
          controller.close();
        }
      } catch (e) {
        await close();
        controller.error(e);
      }
    },
    cancel: close,
  });
}
