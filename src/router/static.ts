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
  // Matched against the URL's path as it arrives (percent-encoded), so the prefix is encoded the
  // same way; "/" maps everything (and becomes "").
  const base = encodeURI(prefix.replace(/\/+$/, ''));
  const root = resolve(dir);

  return async (c, next) => {
    const method = c.req.method;
    const path = new URL(c.req.url).pathname;
    if ((method !== 'GET' && method !== 'HEAD') || !(path === base || path.startsWith(base + '/'))) return next();

    let rel: string;
    try {
      rel = decodeURIComponent(path.slice(base.length)); // once: "%252e" names a file "%2e"
    } catch {
      return plainAnswer(400, 'Bad Request: malformed percent-escape in the path');
    }
    // The URL parser already removes plain "/../", but not "..%2f" or "%5c"; refuse anything
    // that could step out of DIR rather than trying to normalize it.
    if (rel.includes('\0')) return plainAnswer(403, 'Forbidden: NUL byte in the path');
    if (rel.includes('\\')) return plainAnswer(403, 'Forbidden: backslash in the path');
    if (rel.split('/').includes('..')) return plainAnswer(403, 'Forbidden: ".." in the path');

    const file = join(root, rel);
    if (!inside(file, root)) return plainAnswer(403, 'Forbidden: path outside the static directory');
    let real: string;
    let realRoot: string;
    try {
      [realRoot, real] = await Promise.all([realpath(root), realpath(file)]);
    } catch {
      return next(); // missing (ENOENT, ENOTDIR...): the app's turn, as in uWSGI
    }
    if (!inside(real, realRoot)) return plainAnswer(403, 'Forbidden: the file resolves outside the static directory');
    // A directory (no index files) is the app's too; checked before open, which would block on a FIFO.
    if (
      !(await stat(real).then(
        (s) => s.isFile(),
        () => false,
      ))
    )
      return next();

    // Open the resolved path and stat the open file, so headers and bytes describe one file.
    let fh: FileHandle;
    try {
      fh = await open(real, 'r');
    } catch {
      return next();
    }
    let handed = false; // once the stream owns fh, it closes it
    try {
      const st = await fh.stat();
      if (!st.isFile()) return await next(); // swapped since the stat above

      const size = st.size;
      const mtimeSec = Math.floor(st.mtimeMs / 1000) * 1000; // HTTP dates have second precision
      const etag = `W/"${size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
      const lastModified = new Date(mtimeSec).toUTCString();
      const headers = new Headers({ etag, 'last-modified': lastModified, 'accept-ranges': 'bytes' });
      const h = c.req.raw.headers;

      // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2); both compare weakly.
      const inm = h.get('if-none-match');
      const ims = h.get('if-modified-since');
      const notModified =
        inm !== null
          ? inm.trim() === '*' || inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag.slice(2))
          : ims !== null && !Number.isNaN(Date.parse(ims)) && mtimeSec <= Date.parse(ims);
      if (notModified) return new Response(null, { status: 304, headers });

      headers.set('content-type', contentType(file)); // the name asked for, not a symlink's target
      let start = 0;
      let end = size - 1; // inclusive
      let status = 200;
      const range = rangeFor(h.get('range'), h.get('if-range'), etag, mtimeSec, size);
      if (range === 'unsatisfiable') {
        headers.set('content-range', `bytes */${size}`);
        headers.set('content-length', '0');
        return new Response(null, { status: 416, headers });
      }
      if (range) {
        [start, end] = range;
        status = 206;
        headers.set('content-range', `bytes ${start}-${end}/${size}`);
      }
      const length = end - start + 1;
      headers.set('content-length', String(length));
      // HEAD gets GET's headers (206 included) and no body.
      if (method === 'HEAD' || length === 0) return new Response(null, { status, headers });
      handed = true;
      return new Response(fileStream(fh, start, length), { status, headers });
    } finally {
      if (!handed) await fh.close().catch(() => {});
    }
  };
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
