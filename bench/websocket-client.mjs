// The WebSocket benchmark's client (bench/websocket.sh), on Node 22+ (its global WebSocket).
//   node bench/websocket-client.mjs echo URL CONNS SECONDS   → {"mps": messages echoed per second}
//   node bench/websocket-client.mjs idle URL CONNS PID...    → {"kib": the RSS growth of PIDs, in KiB}
// echo: CONNS WebSockets, each sends a 32-byte text message, and the next one as soon as its echo
// comes back (one in flight per connection); echoes are counted for SECONDS after a 1 s warm-up.
// idle: the RSS of PIDs (summed, from /proc) before CONNS WebSockets open and once they are all
// open and have said one message each, then they stay open without traffic while it is read again.
import { readFileSync } from 'node:fs';

const [mode, url, connsArg, ...rest] = process.argv.slice(2);
const conns = Number(connsArg);
const MESSAGE = 'x'.repeat(32);

function open(onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot open ${url}`));
    ws.onmessage = () => onMessage(ws);
  });
}

function rssKib(pids) {
  let total = 0;
  for (const pid of pids) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    total += m ? Number(m[1]) : 0;
  }
  return total;
}

/** Open `n` sockets, at most 100 handshakes at a time. */
async function openMany(n, onMessage) {
  const all = [];
  for (let i = 0; i < n; i += 100) all.push(...(await Promise.all(Array.from({ length: Math.min(100, n - i) }, () => open(onMessage)))));
  return all;
}

if (mode === 'echo') {
  const seconds = Number(rest[0]);
  let counting = false;
  let count = 0;
  const sockets = await openMany(conns, (ws) => {
    if (counting) count++;
    ws.send(MESSAGE);
  });
  for (const ws of sockets) ws.send(MESSAGE);
  await new Promise((r) => setTimeout(r, 1000));
  counting = true;
  const t = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  counting = false;
  const mps = Math.round(count / ((performance.now() - t) / 1000));
  for (const ws of sockets) ws.close();
  console.log(JSON.stringify({ mps }));
} else if (mode === 'idle') {
  const pids = rest.map(Number);
  const before = rssKib(pids);
  let echoed = 0;
  const sockets = await openMany(conns, () => echoed++);
  for (const ws of sockets) ws.send(MESSAGE);
  const end = Date.now() + 60_000;
  while (echoed < conns && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  // Let the servers settle (their queues emptied), then read the RSS once more.
  await new Promise((r) => setTimeout(r, 1000));
  const after = rssKib(pids);
  for (const ws of sockets) ws.close();
  console.log(JSON.stringify({ kib: after - before, echoed }));
} else {
  console.error('usage: websocket-client.mjs echo URL CONNS SECONDS | idle URL CONNS PID...');
  process.exit(2);
}
process.exit(0);
