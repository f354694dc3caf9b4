// A small uwsgi-protocol load generator (no nginx): C connections in flight, one request per
// connection as nginx does, for S seconds; prints requests/s and failures.
//   node bench/uwsgi-load.mjs HOST:PORT|/path.sock [seconds=5] [concurrency=64] [uri=/]
import net from 'node:net';

const [target = '127.0.0.1:3031', secs = '5', conc = '64', uri = '/'] = process.argv.slice(2);
const vars = {
  REQUEST_METHOD: 'GET',
  REQUEST_URI: uri,
  PATH_INFO: uri,
  QUERY_STRING: '',
  SERVER_PROTOCOL: 'HTTP/1.1',
  HTTP_HOST: 'bench',
  REMOTE_ADDR: '127.0.0.1',
  REMOTE_PORT: '1',
  SERVER_NAME: 'bench',
  SERVER_PORT: '80',
};
const parts = [];
for (const [k, v] of Object.entries(vars))
  parts.push(Buffer.from([k.length & 255, k.length >> 8]), Buffer.from(k), Buffer.from([v.length & 255, v.length >> 8]), Buffer.from(v));
const block = Buffer.concat(parts);
const packet = Buffer.concat([Buffer.from([0, block.length & 255, block.length >> 8, 0]), block]);
const opts = target.startsWith('/') ? { path: target } : { host: target.split(':')[0] || '127.0.0.1', port: Number(target.split(':')[1]) };

let ok = 0;
let failed = 0;
const end = Date.now() + Number(secs) * 1000;
function one() {
  return new Promise((resolve) => {
    const s = net.connect(opts);
    let head = '';
    s.on('connect', () => s.write(packet));
    s.on('data', (d) => {
      if (head.length < 12) head += d.toString('latin1', 0, 12);
    });
    s.on('error', () => {});
    s.on('close', () => {
      if (head.startsWith('HTTP/1.1 200')) ok++;
      else failed++;
      resolve();
    });
  });
}
async function loop() {
  while (Date.now() < end) await one();
}
const t0 = Date.now();
await Promise.all(Array.from({ length: Number(conc) }, loop));
const s = (Date.now() - t0) / 1000;
console.log(`${(ok / s).toFixed(0)} req/s, ${ok} ok, ${failed} failed in ${s.toFixed(1)} s`);
