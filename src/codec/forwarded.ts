/**
 * --trusted-proxy: who the client is behind trusted load balancers, from `Forwarded` (RFC 7239)
 * or `X-Forwarded-For` / `X-Forwarded-Proto`. Pure parsing of the headers (addresses and CIDR ranges: src/config/cidr.ts).
 *
 * The hops are read right to left, from the peer: while a hop is a trusted proxy, the address it
 * was given (the next one to the left) is believed; the first address that is not a trusted
 * proxy is the client. A peer that is not trusted is the client itself: its headers say nothing.
 * A hop that is not an address (`unknown`, an obfuscated `_name`) ends the walk: the client is
 * the last address known, the trusted hop to its right.
 */

import { Cidr, type IpAddress, parseIp } from '../config/cidr.ts';

export { Cidr, type IpAddress, parseIp };

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
