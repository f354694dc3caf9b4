// --trusted-proxy parsing: addresses, CIDR ranges, Forwarded (RFC 7239) and X-Forwarded-For /
// X-Forwarded-Proto, walked right to left from the peer; untrusted peers are believed in nothing.
import { describe, expect, test } from 'vitest';
import { Cidr, parseForwarded, parseIp, TrustedProxies } from '../../src/codec/forwarded.ts';
import { forwardedClient, forwardedRequest } from '../../src/worker/forwarded.ts';

const headers = (h: Record<string, string>) => (name: string) => h[name] ?? null;

describe('addresses and ranges', () => {
  test('IPv4, IPv6, IPv4-mapped IPv6 (as IPv4), not addresses', () => {
    expect(parseIp('192.0.2.1')).toEqual({ family: 4, value: 0xc0000201n });
    expect(parseIp('::1')).toEqual({ family: 6, value: 1n });
    expect(parseIp('2001:db8::1')?.value).toBe(0x20010db8000000000000000000000001n);
    expect(parseIp('2001:db8:0:0:0:0:0:1')?.value).toBe(0x20010db8000000000000000000000001n);
    expect(parseIp('::ffff:192.0.2.1')).toEqual({ family: 4, value: 0xc0000201n });
    expect(parseIp('fe80::1%eth0')?.family).toBe(6);
    for (const bad of ['unknown', '_hidden', '256.1.1.1', '1.2.3', '1::2::3', '12345::', 'example.com', '']) expect(parseIp(bad)).toBeNull();
  });
  test('CIDR ranges and single addresses', () => {
    const ten = Cidr.parse('10.0.0.0/8');
    expect(ten.contains(parseIp('10.255.1.2')!)).toBe(true);
    expect(ten.contains(parseIp('11.0.0.1')!)).toBe(false);
    expect(ten.contains(parseIp('::ffff:10.1.1.1')!)).toBe(true);
    const one = Cidr.parse('192.0.2.7');
    expect(one.contains(parseIp('192.0.2.7')!)).toBe(true);
    expect(one.contains(parseIp('192.0.2.8')!)).toBe(false);
    const v6 = Cidr.parse('2001:db8::/32');
    expect(v6.contains(parseIp('2001:db8:ffff::1')!)).toBe(true);
    expect(v6.contains(parseIp('2001:db9::1')!)).toBe(false);
    expect(v6.contains(parseIp('10.0.0.1')!)).toBe(false);
    expect(Cidr.parse('0.0.0.0/0').contains(parseIp('8.8.8.8')!)).toBe(true);
    expect(Cidr.parse('::1').contains(parseIp('::1')!)).toBe(true);
    expect(Cidr.parse('[::1]').contains(parseIp('::1')!)).toBe(true);
  });
  test('bad ranges say what is wrong', () => {
    expect(() => Cidr.parse('10.0.0.0/33')).toThrow('the prefix length must be 0-32');
    expect(() => Cidr.parse('::/129')).toThrow('0-128');
    expect(() => Cidr.parse('lb.example.com')).toThrow('is not an IP address or CIDR range');
    expect(() => Cidr.parse('10.0.0.0/8/1')).toThrow('is not an IP address');
  });
});

describe('Forwarded (RFC 7239)', () => {
  test('elements, quoted values, ports, IPv6 in brackets, case of keys', () => {
    expect(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711";Proto=HTTPS')).toEqual([
      { address: '192.0.2.60', port: 0, proto: 'http' },
      { address: '2001:db8:cafe::17', port: 4711, proto: 'https' },
    ]);
    expect(parseForwarded('for="192.0.2.1:8080"')).toEqual([{ address: '192.0.2.1', port: 8080, proto: undefined }]);
    expect(parseForwarded('for=unknown, for="_hidden"')).toEqual([
      { address: 'unknown', port: 0, proto: undefined },
      { address: '_hidden', port: 0, proto: undefined },
    ]);
  });
});

describe('the client behind trusted proxies', () => {
  const lb = new TrustedProxies(['10.0.0.0/8', 'fd00::/8']);
  const peer = { address: '10.0.0.5', port: 40000 };

  test('X-Forwarded-For: the right-most address that is not a trusted proxy; its proto', () => {
    const h = headers({ 'x-forwarded-for': '203.0.113.9, 10.1.1.1', 'x-forwarded-proto': 'https' });
    expect(lb.client(peer, h)).toEqual({ address: '203.0.113.9', port: 0, scheme: 'https' });
  });
  test('a client that sends its own X-Forwarded-For cannot choose its address', () => {
    // The client (198.51.100.1) claims to be 1.2.3.4; the balancer appends what it saw.
    const h = headers({ 'x-forwarded-for': '1.2.3.4, 198.51.100.1', 'x-forwarded-proto': 'http' });
    expect(lb.client(peer, h)).toEqual({ address: '198.51.100.1', port: 0, scheme: 'http' });
  });
  test('X-Forwarded-Proto lined up with X-Forwarded-For, one to one', () => {
    const h = headers({ 'x-forwarded-for': '203.0.113.9, 10.1.1.1', 'x-forwarded-proto': 'https, http' });
    expect(lb.client(peer, h)?.scheme).toBe('https');
  });
  test('Forwarded wins over X-Forwarded-For; IPv6 clients and proxies', () => {
    const h = headers({ forwarded: 'for="[2001:db8::7]:5555";proto=https, for="[fd00::2]"', 'x-forwarded-for': '9.9.9.9' });
    expect(lb.client({ address: 'fd00::1', port: 1 }, h)).toEqual({ address: '2001:db8::7', port: 5555, scheme: 'https' });
    expect(lb.client({ address: '::ffff:10.0.0.5', port: 1 }, h)?.address).toBe('2001:db8::7');
  });
  test('an untrusted peer: its headers are not believed', () => {
    const h = headers({ 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https', forwarded: 'for=1.2.3.4;proto=https' });
    expect(lb.client({ address: '198.51.100.1', port: 1 }, h)).toBeNull();
    expect(lb.client({ address: '', port: 0 }, h)).toBeNull(); // a UNIX socket peer
    expect(new TrustedProxies([]).client(peer, h)).toBeNull();
  });
  test('every hop trusted: the left-most one is the client; no header: the peer', () => {
    expect(lb.client(peer, headers({ 'x-forwarded-for': '10.9.9.9, 10.1.1.1' }))).toEqual({ address: '10.9.9.9', port: 0, scheme: undefined });
    expect(lb.client(peer, headers({}))).toBeNull();
  });
  test('a hop that is not an address ends the walk at the trusted hop to its right', () => {
    expect(lb.client(peer, headers({ forwarded: 'for=unknown, for=10.2.2.2' }))?.address).toBe('10.2.2.2');
    expect(lb.client(peer, headers({ forwarded: 'for=unknown' }))).toBeNull();
  });
  test('a proto that is neither http nor https is ignored', () => {
    expect(lb.client(peer, headers({ 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'gopher' }))?.scheme).toBeUndefined();
  });
  test('the Request the app gets: the scheme of req.url; the peer is the client', () => {
    const req = new Request('http://example.com/a?b=1', { headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' } });
    const out = forwardedRequest(lb, req, peer);
    expect(out.req.url).toBe('https://example.com/a?b=1');
    expect(out.peer).toEqual({ address: '203.0.113.9', port: 0 });
    expect(forwardedRequest(lb, req, { address: '192.0.2.1', port: 9 }).req).toBe(req);
    // No proxy trusted: the headers are not even asked for.
    const untouched = () => {
      throw new Error('headers read');
    };
    expect(forwardedClient(undefined, peer, untouched, 'http')).toEqual({ peer, scheme: 'http' });
  });
});
