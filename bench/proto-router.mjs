// A minimal stand-in for the --http router, to measure the choice of protocol between the router
// and the workers without the router's own costs in the way: node:http in front, each request's
// head sent on a kept UNIX connection either as uwsgi vars with TSGI_KEEP (MODE uwsgi, to a
// worker's internal socket) or as HTTP/1.1 (MODE http, to a --http-socket on a UNIX socket), the
// answer's head parsed and passed on with its body. Hello-world answers only (Content-Length,
// whole in one read or a few); no errors, timeouts or bodies: a measuring tool, not a router.
//   node bench/proto-router.mjs SOCKET PORT uwsgi|http       (bench/router-choice.sh runs it)
import http from 'node:http';
import net from 'node:net';

const [SOCK, PORT, MODE] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const idle = [];

function uwsgiPacket(vars) {
  const parts = vars.flatMap(([k, v]) => [Buffer.from(k, 'latin1'), Buffer.from(v, 'latin1')]);
  const size = parts.reduce((n, p) => n + 2 + p.length, 0);
  const out = Buffer.allocUnsafe(4 + size);
  out[0] = 0;
  out.writeUInt16LE(size, 1);
  out[3] = 0;
  let at = 4;
  for (const p of parts) {
    out.writeUInt16LE(p.length, at);
    p.copy(out, at + 2);
    at += 2 + p.length;
  }
  return out;
}

function request(req) {
  const raw = req.rawHeaders;
  if (MODE === 'http') {
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
    return Buffer.from(`${head}x-forwarded-for: ${req.socket.remoteAddress}\r\n\r\n`, 'latin1');
  }
  const q = req.url.indexOf('?');
  const vars = [
    ['REQUEST_METHOD', req.method],
    ['REQUEST_URI', req.url],
    ['PATH_INFO', q < 0 ? req.url : req.url.slice(0, q)],
    ['QUERY_STRING', q < 0 ? '' : req.url.slice(q + 1)],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REMOTE_ADDR', req.socket.remoteAddress],
    ['REMOTE_PORT', String(req.socket.remotePort)],
    ['SERVER_NAME', 'localhost'],
    ['SERVER_PORT', String(PORT)],
  ];
  for (let i = 0; i < raw.length; i += 2) vars.push([`HTTP_${raw[i].toUpperCase().replaceAll('-', '_')}`, raw[i + 1]]);
  vars.push(['TSGI_KEEP', '1']);
  return uwsgiPacket(vars);
}

function connection() {
  const kept = idle.pop();
  if (kept) return kept;
  const c = net.connect(SOCK);
  c.on('error', () => {});
  c.on('close', () => idle.includes(c) && idle.splice(idle.indexOf(c), 1));
  return c;
}

http
  .createServer((req, res) => {
    const c = connection();
    let got = null;
    const onData = (d) => {
      got = got ? Buffer.concat([got, d]) : d;
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = got.toString('latin1', 0, end).split('\r\n');
      const headers = [];
      let length = -1;
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).toLowerCase();
        const value = line.slice(colon + 1).trim();
        if (name === 'connection' || name === 'keep-alive') continue;
        if (name === 'content-length') length = Number(value);
        headers.push(name, value);
      }
      const body = got.subarray(end + 4);
      if (body.length < length) return;
      c.off('data', onData);
      res.writeHead(Number(lines[0].slice(9, 12)), headers);
      res.end(body);
      idle.push(c);
    };
    c.on('data', onData);
    c.write(request(req));
  })
  .listen(PORT, '127.0.0.1');
