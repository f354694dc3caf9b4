/**
 * IP addresses and CIDR ranges (--trusted-proxy): parsed when the options are read, and matched
 * against peers by src/codec/forwarded.ts. Pure: it loads nothing, so the launcher may check the
 * option without the serving code.
 */

export type Family = 4 | 6;

/** An IP address as a number (IPv4-mapped IPv6 addresses are IPv4). */
export interface IpAddress {
  family: Family;
  value: bigint;
}

function parseIpv4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let n = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    n = (n << 8n) | BigInt(Number(p));
  }
  return n;
}

function parseIpv6(s: string): bigint | null {
  let text = s.replace(/%.*$/, ''); // a zone (fe80::1%eth0)
  // An IPv4 tail (::ffff:192.0.2.1) is the last two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const known = head.length + rest.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  let n = 0n;
  for (const g of [...head, ...Array<string>(8 - known).fill('0'), ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    n = (n << 16n) | BigInt(parseInt(g, 16));
  }
  return n;
}

const MAPPED = 0xffffn << 32n;

/** "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" (an IPv4 address); null if not an address. */
export function parseIp(s: string): IpAddress | null {
  const v4 = parseIpv4(s);
  if (v4 !== null) return { family: 4, value: v4 };
  if (!s.includes(':')) return null;
  const v6 = parseIpv6(s);
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 - MAPPED };
  return { family: 6, value: v6 };
}

/** A range of addresses: 10.0.0.0/8, 2001:db8::/32, or one address. */
export class Cidr {
  readonly family: Family;
  readonly #base: bigint;
  readonly #shift: bigint;

  private constructor(family: Family, base: bigint, bits: number) {
    this.family = family;
    this.#shift = BigInt((family === 4 ? 32 : 128) - bits);
    this.#base = base >> this.#shift;
  }

  /** Parse "ADDR" or "ADDR/BITS"; throws an Error saying what is wrong. */
  static parse(spec: string): Cidr {
    const [addr, bits, extra] = spec.trim().split('/');
    const ip = extra === undefined ? parseIp(addr.replace(/^\[(.*)\]$/, '$1')) : null;
    if (!ip) throw new Error(`'${spec}' is not an IP address or CIDR range (like 10.0.0.0/8, 192.0.2.7, fd00::/8, ::1)`);
    // An IPv4-mapped address with a /bits is taken as IPv6 bits over the mapped range.
    const max = ip.family === 4 ? 32 : 128;
    let n = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : -1;
    if (ip.family === 4 && addr.includes(':') && bits !== undefined) n -= 96;
    if (n < 0 || n > max) throw new Error(`'${spec}': the prefix length must be 0-${max}`);
    return new Cidr(ip.family, ip.value, n);
  }

  contains(ip: IpAddress): boolean {
    return ip.family === this.family && ip.value >> this.#shift === this.#base;
  }
}
