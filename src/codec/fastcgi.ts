/**
 * The FastCGI codec (the responder role), pure TypeScript.
 *
 * A record: version 1 (u8), type (u8), request id (u16 BE), content length (u16 BE), padding
 * length (u8), a reserved byte, the content, the padding. A request: BEGIN_REQUEST (role, flags),
 * PARAMS records (name-value pairs, each length 1 byte below 128 or 4 bytes with the top bit set)
 * ended by an empty one, STDIN records ended by an empty one. The answer: STDOUT records (a CGI
 * head — `Status: 200 OK`, headers, a blank line — then the body), an empty STDOUT and
 * END_REQUEST. Several requests may share a connection at once (their ids tell them apart), and
 * one with FCGI_KEEP_CONN leaves the connection open for the next.
 *
 * The params become UwsgiVars (byte strings, packet order), the vars the uwsgi codec makes, so
 * varsToRequest maps both.
 */
import { concatBytes, latin1, latin1Key } from './bytes.ts';
import { CodecError, type UwsgiVars } from './types.ts';

export const FCGI_VERSION = 1;
export const FCGI = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;
export const FCGI_RESPONDER = 1;
/** BEGIN_REQUEST's flags: leave the connection open after END_REQUEST. */
export const FCGI_KEEP_CONN = 1;
/** END_REQUEST's protocolStatus. */
export const FCGI_STATUS = { REQUEST_COMPLETE: 0, CANT_MPX_CONN: 1, OVERLOADED: 2, UNKNOWN_ROLE: 3 } as const;
/** The largest content of one record. */
export const FCGI_MAX_CONTENT = 65535;

export type FastCgiErrorCode =
  | 'looks-like-http'
  | 'bad-version'
  | 'bad-record'
  | 'duplicate-request'
  | 'unknown-request'
  | 'out-of-order'
  | 'params-too-large'
  | 'bad-params'
  | 'truncated';

/** Input that is not valid FastCGI: the connection cannot go on. The message is for the log. */
export class FastCgiProtocolError extends CodecError<FastCgiErrorCode> {
  override name = 'FastCgiProtocolError';
}

export interface FastCgiHandlers {
  /** BEGIN_REQUEST for a new id. A role other than FCGI_RESPONDER is the handler's to refuse. */
  onBegin(id: number, role: number, keepConn: boolean): void;
  /** The request's params are in (its empty PARAMS record). `size`: their bytes on the wire. */
  onParams(id: number, vars: UwsgiVars, size: number): void;
  /** Body bytes (subarrays of pushed chunks). */
  onStdin(id: number, chunk: Uint8Array): void;
  /** The empty STDIN record: the body is whole. */
  onStdinEnd(id: number): void;
  /** ABORT_REQUEST for an active id. */
  onAbort(id: number): void;
  /** GET_VALUES: the names asked (answer with encodeGetValuesResult). */
  onGetValues(names: string[]): void;
  /** A record type a responder does not take (answer with encodeUnknownType). */
  onUnknownType(type: number): void;
  /** At most once; the decoder ignores input after it. */
  onError(error: FastCgiProtocolError): void;
}

/** Where one request id is: its params coming, its body coming, its input whole, or answered. */
type Phase = 'params' | 'stdin' | 'input-done' | 'ended';

interface Pending {
  phase: Phase;
  params: Uint8Array[];
  paramsSize: number;
}

const HEADER = 8;

/**
 * The incremental decoder: bytes in any chunking (one at a time too), records out as events.
 * Body bytes are handed on as they come, without waiting for their record's end; every other
 * record is gathered whole first (BEGIN_REQUEST, PARAMS, GET_VALUES…: small).
 */
export class FastCgiDecoder {
  private readonly handlers: FastCgiHandlers;
  private readonly maxParams: number;
  private readonly requests = new Map<number, Pending>();
  private failed = false;
  /** The current record's header, when it arrives split. */
  private head = new Uint8Array(HEADER);
  private headHave = 0;
  private type = 0;
  private id = 0;
  /** Content bytes of the current record still to come, then its padding. */
  private content = 0;
  private padding = 0;
  /** The current record's content, gathered (null: STDIN or a skipped record, passed or dropped as it comes). */
  private gather: Uint8Array | null = null;
  private gathered = 0;
  private skip = false;

  /** `maxParams`: the largest params block of one request, in bytes (--buffer-size). */
  constructor(handlers: FastCgiHandlers, options: { maxParams: number }) {
    this.handlers = handlers;
    this.maxParams = options.maxParams;
  }

  /** Requests begun and not ended(). */
  get active(): number {
    let n = 0;
    for (const r of this.requests.values()) if (r.phase !== 'ended') n++;
    return n;
  }

  /** Is nothing half-read (between records, no request open)? */
  get idle(): boolean {
    return this.headHave === 0 && this.content === 0 && this.padding === 0 && this.active === 0;
  }

  /**
   * The answer to `id` went out (END_REQUEST): records for it are ignored from now on, as the
   * specification says, until a BEGIN_REQUEST makes it active again.
   */
  ended(id: number): void {
    const r = this.requests.get(id);
    if (r) {
      r.phase = 'ended';
      r.params = [];
    }
  }

  /** Bytes from the peer. The decoder keeps (subarrays of) the chunk: the caller must not reuse it. */
  push(chunk: Uint8Array): void {
    let off = 0;
    const n = chunk.length;
    while (off < n && !this.failed) {
      if (this.content > 0) off = this.contentBytes(chunk, off);
      else if (this.padding > 0) {
        const take = Math.min(this.padding, n - off);
        this.padding -= take;
        off += take;
      } else off = this.headerBytes(chunk, off);
    }
  }

  /** The peer closed its side. Only an error in the middle of a record or of a request. */
  end(): void {
    if (this.failed) return;
    if (this.headHave > 0 || this.content > 0 || this.padding > 0) {
      this.fail('truncated', `connection closed in the middle of a record (type ${this.type}, request ${this.id})`);
      return;
    }
    for (const [id, r] of this.requests) {
      if (r.phase === 'params' || r.phase === 'stdin')
        return void this.fail('truncated', `connection closed before request ${id}'s ${r.phase.toUpperCase()} ended`);
    }
  }

  private headerBytes(chunk: Uint8Array, off: number): number {
    let h = chunk;
    let at = off;
    if (this.headHave === 0 && chunk.length - off >= HEADER) off += HEADER;
    else {
      while (this.headHave < HEADER && off < chunk.length) this.head[this.headHave++] = chunk[off++];
      if (this.headHave < HEADER) return off;
      h = this.head;
      at = 0;
    }
    this.headHave = 0;
    this.record(h[at], h[at + 1], (h[at + 2] << 8) | h[at + 3], (h[at + 4] << 8) | h[at + 5], h[at + 6]);
    return off;
  }

  /** A record's header is in: check it and get ready for its content. */
  private record(version: number, type: number, id: number, length: number, padding: number): void {
    if (version !== FCGI_VERSION) return this.badVersion(version, type);
    this.type = type;
    this.id = id;
    this.content = length;
    this.padding = padding;
    this.skip = false;
    this.gather = null;
    this.gathered = 0;
    if (type === FCGI.STDIN) {
      if (!this.expect(id, 'stdin', 'STDIN')) return;
      if (length === 0) this.stdinEnd(id);
      return;
    }
    if (type !== FCGI.BEGIN_REQUEST && type !== FCGI.PARAMS && type !== FCGI.ABORT_REQUEST && type !== FCGI.GET_VALUES) {
      this.skip = true;
      this.handlers.onUnknownType(type);
      return;
    }
    if (type === FCGI.PARAMS && !this.expect(id, 'params', 'PARAMS')) return;
    if (type === FCGI.ABORT_REQUEST && this.inactive(id)) this.skip = true;
    if (this.skip) return;
    if (type === FCGI.PARAMS) {
      const r = this.requests.get(id) as Pending;
      if (r.paramsSize + length > this.maxParams) {
        return void this.fail('params-too-large', `request ${id}'s params are larger than ${this.maxParams} bytes; raise --buffer-size`);
      }
    }
    if (length === 0) this.complete(new Uint8Array(0));
    else this.gather = new Uint8Array(length);
  }

  private contentBytes(chunk: Uint8Array, off: number): number {
    const take = Math.min(this.content, chunk.length - off);
    const end = off + take;
    this.content -= take;
    if (this.type === FCGI.STDIN) {
      if (!this.skip) this.handlers.onStdin(this.id, off === 0 && end === chunk.length ? chunk : chunk.subarray(off, end));
      return end;
    }
    const g = this.gather;
    if (g === null) return end;
    g.set(chunk.subarray(off, end), this.gathered);
    this.gathered += take;
    if (this.content === 0) this.complete(g);
    return end;
  }

  /** A gathered record is whole. */
  private complete(content: Uint8Array): void {
    this.gather = null;
    const id = this.id;
    switch (this.type) {
      case FCGI.BEGIN_REQUEST:
        return this.begin(id, content);
      case FCGI.PARAMS:
        return this.params(id, content);
      case FCGI.ABORT_REQUEST:
        return this.handlers.onAbort(id);
      case FCGI.GET_VALUES: {
        const names = this.pairs(content, 'GET_VALUES');
        if (names) this.handlers.onGetValues(names.map(([k]) => k));
      }
    }
  }

  private begin(id: number, content: Uint8Array): void {
    if (id === 0) return void this.fail('bad-record', 'BEGIN_REQUEST with request id 0 (the id of management records)');
    if (content.length !== 8) return void this.fail('bad-record', `BEGIN_REQUEST of ${content.length} bytes (it has 8)`);
    if (!this.inactive(id)) return void this.fail('duplicate-request', `BEGIN_REQUEST for request ${id}, which is still active`);
    this.requests.set(id, { phase: 'params', params: [], paramsSize: 0 });
    this.handlers.onBegin(id, (content[0] << 8) | content[1], (content[2] & FCGI_KEEP_CONN) !== 0);
  }

  private params(id: number, content: Uint8Array): void {
    const r = this.requests.get(id) as Pending;
    if (content.length > 0) {
      r.params.push(content);
      r.paramsSize += content.length;
      return;
    }
    const block = r.params.length === 1 ? r.params[0] : concatBytes(r.params, r.paramsSize);
    r.params = [];
    r.phase = 'stdin';
    const vars = this.pairs(block, 'PARAMS');
    if (vars) this.handlers.onParams(id, vars, r.paramsSize);
  }

  private stdinEnd(id: number): void {
    const r = this.requests.get(id);
    if (r?.phase !== 'stdin') return;
    r.phase = 'input-done';
    this.handlers.onStdinEnd(id);
  }

  private inactive(id: number): boolean {
    const r = this.requests.get(id);
    return r === undefined || r.phase === 'ended';
  }

  /**
   * A PARAMS or STDIN record for `id`, which must be in `phase`. One for an id that was answered
   * (END_REQUEST sent) is dropped; for an id never begun, or in another phase, an error.
   */
  private expect(id: number, phase: Phase, what: string): boolean {
    const r = this.requests.get(id);
    if (r?.phase === 'ended') {
      this.skip = true;
      return true;
    }
    if (r === undefined) return this.fail('unknown-request', `${what} for request ${id}, which has no BEGIN_REQUEST`);
    if (r.phase === phase) return true;
    const why = phase === 'stdin' ? 'before its PARAMS ended' : r.phase === 'stdin' ? 'after its PARAMS ended' : 'after its STDIN ended';
    if (r.phase === 'input-done' && phase === 'stdin') {
      // More body after the end of the body.
      return this.fail('out-of-order', `STDIN for request ${id} after its empty STDIN record`);
    }
    return this.fail('out-of-order', `${what} for request ${id} ${why}`);
  }

  /** Name-value pairs → vars; null (and an error) when a length runs past the block. */
  private pairs(b: Uint8Array, what: string): UwsgiVars | null {
    const vars: UwsgiVars = [];
    let o = 0;
    const end = b.length;
    const length = (): number => {
      if (o >= end) return -1;
      const c = b[o];
      if (c < 0x80) {
        o += 1;
        return c;
      }
      if (o + 4 > end) return -1;
      const n = ((c & 0x7f) << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
      o += 4;
      return n;
    };
    while (o < end) {
      const at = o;
      const kl = length();
      const vl = kl < 0 ? -1 : length();
      if (vl < 0 || o + kl + vl > end) {
        this.fail('bad-params', `malformed ${what}: the name-value pair at offset ${at} runs past the end (${end} bytes)`);
        return null;
      }
      vars.push([latin1Key(b, o, o + kl), latin1(b, o + kl, o + kl + vl)]);
      o += kl + vl;
    }
    return vars;
  }

  private badVersion(version: number, type: number): void {
    const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
    if (isUpper(version) && isUpper(type)) {
      return void this.fail(
        'looks-like-http',
        'an HTTP request came to a FastCGI socket (tsgi --fastcgi-socket, for fastcgi_pass); HTTP clients need --http-socket or --http',
      );
    }
    const uwsgi = version === 0 ? ' (a uwsgi packet? uwsgi_pass needs --socket)' : '';
    this.fail('bad-version', `FastCGI record of version ${version}${uwsgi}: the only version is 1`);
  }

  private fail(code: FastCgiErrorCode, message: string): false {
    if (!this.failed) {
      this.failed = true;
      this.requests.clear();
      this.handlers.onError(new FastCgiProtocolError(code, message));
    }
    return false;
  }
}

/** One record's 8-byte header; `content` bytes follow, then `pad` zero bytes. */
function header(out: Uint8Array, at: number, type: number, id: number, content: number, pad: number): void {
  out[at] = FCGI_VERSION;
  out[at + 1] = type;
  out[at + 2] = id >> 8;
  out[at + 3] = id & 0xff;
  out[at + 4] = content >> 8;
  out[at + 5] = content & 0xff;
  out[at + 6] = pad;
  out[at + 7] = 0;
}

const padOf = (n: number) => (8 - (n & 7)) & 7;

/** One record around `content` (at most 65535 bytes), padded to a multiple of 8. */
export function encodeRecord(type: number, id: number, content: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (content.length > FCGI_MAX_CONTENT) throw new RangeError(`a FastCGI record holds at most ${FCGI_MAX_CONTENT} bytes, not ${content.length}`);
  const pad = padOf(content.length);
  const out = new Uint8Array(HEADER + content.length + pad);
  header(out, 0, type, id, content.length, pad);
  out.set(content, HEADER);
  return out;
}

/**
 * Stream records (STDOUT, STDERR; PARAMS and STDIN for a web server's side) carrying `data`, in
 * one buffer: as many records of at most 65535 bytes as it takes. Empty data: nothing (the empty
 * record that ends a stream is encodeRecord(type, id)).
 */
export function encodeStream(type: number, id: number, data: Uint8Array): Uint8Array {
  let size = 0;
  for (let left = data.length; left > 0; left -= FCGI_MAX_CONTENT) {
    const n = Math.min(left, FCGI_MAX_CONTENT);
    size += HEADER + n + padOf(n);
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (let from = 0; from < data.length; from += FCGI_MAX_CONTENT) {
    const n = Math.min(data.length - from, FCGI_MAX_CONTENT);
    const pad = padOf(n);
    header(out, o, type, id, n, pad);
    out.set(data.subarray(from, from + n), o + HEADER);
    o += HEADER + n + pad;
  }
  return out;
}

/** The end of an answer: the empty STDOUT record, then END_REQUEST with appStatus and protocolStatus. */
export function encodeEndRequest(id: number, appStatus: number, protocolStatus: number = FCGI_STATUS.REQUEST_COMPLETE, withStdoutEnd = true): Uint8Array {
  const out = new Uint8Array((withStdoutEnd ? HEADER : 0) + HEADER + 8);
  let o = 0;
  if (withStdoutEnd) {
    header(out, 0, FCGI.STDOUT, id, 0, 0);
    o = HEADER;
  }
  header(out, o, FCGI.END_REQUEST, id, 8, 0);
  const s = appStatus >>> 0;
  out[o + 8] = s >>> 24;
  out[o + 9] = (s >>> 16) & 0xff;
  out[o + 10] = (s >>> 8) & 0xff;
  out[o + 11] = s & 0xff;
  out[o + 12] = protocolStatus;
  return out;
}

/** The answer to a record type the application does not take. */
export function encodeUnknownType(type: number): Uint8Array {
  const content = new Uint8Array(8);
  content[0] = type;
  return encodeRecord(FCGI.UNKNOWN_TYPE, 0, content);
}

/** Name-value pairs in FastCGI's encoding (byte strings; lengths of 1 or 4 bytes). */
export function encodePairs(vars: UwsgiVars | Record<string, string>): Uint8Array {
  const list = Array.isArray(vars) ? vars : Object.entries(vars);
  const len = (n: number) => (n < 0x80 ? 1 : 4);
  let size = 0;
  for (const [k, v] of list) size += len(k.length) + len(v.length) + k.length + v.length;
  const out = new Uint8Array(size);
  let o = 0;
  const put = (n: number) => {
    if (n < 0x80) out[o++] = n;
    else {
      out[o++] = ((n >>> 24) & 0x7f) | 0x80;
      out[o++] = (n >>> 16) & 0xff;
      out[o++] = (n >>> 8) & 0xff;
      out[o++] = n & 0xff;
    }
  };
  for (const [k, v] of list) {
    put(k.length);
    put(v.length);
    for (let i = 0; i < k.length; i++) out[o++] = k.charCodeAt(i);
    for (let i = 0; i < v.length; i++) out[o++] = v.charCodeAt(i);
  }
  return out;
}

/**
 * GET_VALUES_RESULT: the values asked for that the application knows (`known`), the others left
 * out, as the specification says.
 */
export function encodeGetValuesResult(names: string[], known: Record<string, string>): Uint8Array {
  const pairs: UwsgiVars = [];
  for (const name of names) if (Object.hasOwn(known, name)) pairs.push([name, known[name]]);
  return encodeRecord(FCGI.GET_VALUES_RESULT, 0, encodePairs(pairs));
}

/**
 * A whole request as a web server sends it (tests, tools): BEGIN_REQUEST, the params in records
 * of at most 65535 bytes, an empty PARAMS, the body in STDIN records of at most 65535 bytes, an
 * empty STDIN.
 */
export function encodeRequest(
  id: number,
  vars: UwsgiVars | Record<string, string>,
  body: Uint8Array = new Uint8Array(0),
  options: { keepConn?: boolean; role?: number } = {},
): Uint8Array {
  const begin = new Uint8Array(8);
  const role = options.role ?? FCGI_RESPONDER;
  begin[0] = role >> 8;
  begin[1] = role & 0xff;
  begin[2] = options.keepConn ? FCGI_KEEP_CONN : 0;
  const parts = [
    encodeRecord(FCGI.BEGIN_REQUEST, id, begin),
    encodeStream(FCGI.PARAMS, id, encodePairs(vars)),
    encodeRecord(FCGI.PARAMS, id),
    encodeStream(FCGI.STDIN, id, body),
    encodeRecord(FCGI.STDIN, id),
  ];
  return concatBytes(parts);
}
