/**
 * --trusted-proxy: who the client is behind trusted load balancers, from `Forwarded` (RFC 7239)
 * or `X-Forwarded-For` / `X-Forwarded-Proto`. Pure parsing: addresses, CIDR ranges, the headers.
 *
 * The hops are read right to left, from the peer: while a hop is a trusted proxy, the address it
 * was given (the next one to the left) is believed; the first address that is not a trusted
 * proxy is the client. A peer that is not trusted is the client itself: its headers say nothing.
 * A hop that is not an address (`unknown`, an obfuscated `_name`) ends the walk: the client is
 * the last address known, the trusted hop to its right.
 */

type Family = 4 | 6;

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

/** One hop of the chain: an address (with a port when Forwarded gave one), or a name that is not one. */
export interface Hop {
  address: string;
  port: number;
  proto?: string;
}

/** The client as the trusted proxies describe it. */
export interface ForwardedClient {
  address: string;
  port: number;
  /** The scheme the client used, when the proxies said (`http` or `https`). */
  scheme?: 'http' | 'https';
}

/** Split on `sep` outside double quotes. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '"' && s[i - 1] !== '\\') quoted = !quoted;
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t;
}

/** A node of Forwarded's for=: "192.0.2.1", "192.0.2.1:80", "[2001:db8::1]:4711", "unknown". */
function forNode(v: string): { address: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  if (bracketed) return { address: bracketed[1], port: Number(bracketed[2] ?? 0) };
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d+)$/.exec(v);
  if (v4port) return { address: v4port[1], port: Number(v4port[2]) };
  return { address: v, port: 0 };
}

/** The hops of a `Forwarded` header, left (the client) to right (the nearest proxy). */
export function parseForwarded(value: string): Hop[] {
  const hops: Hop[] = [];
  for (const element of splitOutsideQuotes(value, ',')) {
    let hop: Hop | null = null;
    let proto: string | undefined;
    for (const pair of splitOutsideQuotes(element, ';')) {
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const key = pair.slice(0, eq).trim().toLowerCase();
      const v = unquote(pair.slice(eq + 1));
      if (key === 'for') hop = forNode(v);
      else if (key === 'proto') proto = v.toLowerCase();
    }
    // An element without for= names no hop: the chain cannot be followed past it.
    hops.push(hop ? { ...hop, proto } : { address: 'unknown', port: 0, proto });
  }
  return hops;
}

/**
 * The hops of X-Forwarded-For, with X-Forwarded-Proto's values where they line up one to one;
 * else its last value (the one the nearest proxy set) stands for every hop.
 */
export function parseXForwarded(forValue: string, protoValue: string | null): Hop[] {
  const hops: Hop[] = forValue.split(',').map((s) => ({ ...forNode(s.trim()), proto: undefined as string | undefined }));
  const protos = protoValue === null ? [] : protoValue.split(',').map((s) => s.trim().toLowerCase());
  if (protos.length === hops.length) protos.forEach((p, i) => (hops[i].proto = p));
  else if (protos.length > 0) for (const h of hops) h.proto = protos[protos.length - 1];
  return hops;
}

function scheme(proto: string | undefined): 'http' | 'https' | undefined {
  return proto === 'http' || proto === 'https' ? proto : undefined;
}

/** The trusted ranges (--trusted-proxy), and the client they describe. */
export class TrustedProxies {
  readonly #ranges: Cidr[];

  constructor(specs: readonly string[]) {
    this.#ranges = specs.map((s) => Cidr.parse(s));
  }

  trusts(address: string): boolean {
    const ip = parseIp(address);
    return ip !== null && this.#ranges.some((r) => r.contains(ip));
  }

  /**
   * The client of a request from `peer`, when `peer` is trusted and the headers say who it is;
   * null otherwise (the peer is the client). `get` reads a request header by lower-case name.
   */
  client(peer: { address: string; port: number }, get: (name: string) => string | null): ForwardedClient | null {
    if (!this.trusts(peer.address)) return null;
    const forwarded = get('forwarded');
    const xff = get('x-forwarded-for');
    const hops = forwarded !== null ? parseForwarded(forwarded) : xff !== null ? parseXForwarded(xff, get('x-forwarded-proto')) : null;
    if (hops === null || hops.length === 0) return null;
    let chosen: Hop | null = null;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i];
      if (parseIp(hop.address) === null) break;
      chosen = hop;
      if (!this.trusts(hop.address)) break;
    }
    if (chosen === null) return null;
    return { address: chosen.address, port: chosen.port, scheme: scheme(chosen.proto) };
  }
}
