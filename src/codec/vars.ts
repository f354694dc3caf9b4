/**
 * The vars block: lookup and encoding.
 */
import { fromLatin1 } from './bytes.ts';
import { MAX_VARS_SIZE, type UwsgiVars } from './types.ts';

/** The value of the first var called `name` (the one every codec function uses), or undefined. */
export function getVar(vars: UwsgiVars, name: string): string | undefined {
  for (let i = 0; i < vars.length; i++) if (vars[i][0] === name) return vars[i][1];
  return undefined;
}

function pairs(vars: UwsgiVars | Record<string, string>): UwsgiVars {
  return Array.isArray(vars) ? vars : Object.entries(vars);
}

function tooLong(what: string, name: string, length: number): RangeError {
  return new RangeError(`uwsgi var ${what} ${JSON.stringify(name.slice(0, 40))} is ${length} bytes; at most 65535 fit`);
}

/** Size of the vars block, checked: RangeError when a name, a value or the block is too long. */
function blockSize(list: UwsgiVars): number {
  let size = 0;
  for (let i = 0; i < list.length; i++) {
    const [k, v] = list[i];
    if (k.length > 0xffff) throw tooLong('name', k, k.length);
    if (v.length > 0xffff) throw tooLong('value of', k, v.length);
    size += 4 + k.length + v.length;
  }
  if (size > MAX_VARS_SIZE) throw new RangeError(`uwsgi vars block of ${size} bytes is larger than ${MAX_VARS_SIZE}`);
  return size;
}

function writeBlock(list: UwsgiVars, out: Uint8Array, offset: number): void {
  let o = offset;
  for (let i = 0; i < list.length; i++) {
    const [k, v] = list[i];
    out[o] = k.length & 0xff;
    out[o + 1] = k.length >>> 8;
    fromLatin1(k, out, o + 2);
    o += 2 + k.length;
    out[o] = v.length & 0xff;
    out[o + 1] = v.length >>> 8;
    fromLatin1(v, out, o + 2);
    o += 2 + v.length;
  }
}

/**
 * The vars block alone (no 4-byte header). Keys and values are byte strings. RangeError when a
 * name or value is longer than 65535 bytes, when the block is, or on a char above 0xFF.
 */
export function encodeVars(vars: UwsgiVars | Record<string, string>): Uint8Array {
  const list = pairs(vars);
  const out = new Uint8Array(blockSize(list));
  writeBlock(list, out, 0);
  return out;
}

/**
 * A whole packet head: the 4-byte header (modifier1 and modifier2 default to 0) and the vars
 * block, in one allocation. Errors as encodeVars.
 */
export function encodePacket(vars: UwsgiVars | Record<string, string>, options: { modifier1?: number; modifier2?: number } = {}): Uint8Array {
  const list = pairs(vars);
  const size = blockSize(list);
  const out = new Uint8Array(4 + size);
  out[0] = options.modifier1 ?? 0;
  out[1] = size & 0xff;
  out[2] = size >>> 8;
  out[3] = options.modifier2 ?? 0;
  writeBlock(list, out, 4);
  return out;
}
