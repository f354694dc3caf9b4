/**
 * Byte strings and the vars block: encoding, lookup.
 */
import { MAX_VARS_SIZE, type UwsgiVars } from './types.ts';

/** Bytes → byte string (one char per byte). Chunked to keep apply() within argument limits. */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  if (end - start <= 1024) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let i = start; i < end; i += 1024) s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + 1024)) as unknown as number[]);
  return s;
}

/** Byte string → bytes. Chars above 0xFF are not byte strings: RangeError. */
export function fromLatin1(s: string, out?: Uint8Array, offset = 0): Uint8Array {
  const b = out ?? new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`character U+${c.toString(16).padStart(4, '0')} is not a byte (use a byte string)`);
    b[offset + i] = c;
  }
  return b;
}

export function getVar(vars: UwsgiVars, name: string): string | undefined {
  for (let i = 0; i < vars.length; i++) if (vars[i][0] === name) return vars[i][1];
  return undefined;
}

function pairs(vars: UwsgiVars | Record<string, string>): UwsgiVars {
  return Array.isArray(vars) ? vars : Object.entries(vars);
}

/** The vars block alone (no 4-byte header). */
export function encodeVars(vars: UwsgiVars | Record<string, string>): Uint8Array {
  const list = pairs(vars);
  let size = 0;
  for (const [k, v] of list) {
    if (k.length > 0xffff || v.length > 0xffff) throw new RangeError(`uwsgi var ${k.slice(0, 40)} is longer than 65535 bytes`);
    size += 4 + k.length + v.length;
  }
  if (size > MAX_VARS_SIZE) throw new RangeError(`uwsgi vars block of ${size} bytes is larger than ${MAX_VARS_SIZE}`);
  const out = new Uint8Array(size);
  let o = 0;
  for (const [k, v] of list) {
    out[o] = k.length & 0xff;
    out[o + 1] = k.length >> 8;
    fromLatin1(k, out, o + 2);
    o += 2 + k.length;
    out[o] = v.length & 0xff;
    out[o + 1] = v.length >> 8;
    fromLatin1(v, out, o + 2);
    o += 2 + v.length;
  }
  return out;
}

/** A whole packet head: the 4-byte header and the vars block. */
export function encodePacket(vars: UwsgiVars | Record<string, string>, options: { modifier1?: number; modifier2?: number } = {}): Uint8Array {
  const block = encodeVars(vars);
  const out = new Uint8Array(4 + block.length);
  out[0] = options.modifier1 ?? 0;
  out[1] = block.length & 0xff;
  out[2] = block.length >> 8;
  out[3] = options.modifier2 ?? 0;
  out.set(block, 4);
  return out;
}
