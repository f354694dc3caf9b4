// A V8 CPU profile of a running process over the inspector protocol (Chrome DevTools Protocol),
// for a runtime without --cpu-prof (Deno 2.9): start it with --inspect=127.0.0.1:PORT, then
//   node bench/cdp-profile.mjs PORT SECONDS OUT.cpuprofile
// samples it for SECONDS and writes the profile in the format of node --cpu-prof
// (chrome://inspect and `node bench/profile-summary.mjs OUT.cpuprofile` read it).
import { writeFileSync } from 'node:fs';

const [port = '9229', secs = '5', out = 'deno.cpuprofile'] = process.argv.slice(2);
const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
await new Promise((ok, fail) => {
  ws.onopen = ok;
  ws.onerror = fail;
});
let nextId = 1;
const waiting = new Map();
ws.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  waiting.get(msg.id)?.(msg);
  waiting.delete(msg.id);
};
const call = (method, params = {}) =>
  new Promise((ok) => {
    const id = nextId++;
    waiting.set(id, ok);
    ws.send(JSON.stringify({ id, method, params }));
  });
await call('Profiler.enable');
await call('Profiler.setSamplingInterval', { interval: 1000 });
await call('Profiler.start');
await new Promise((ok) => setTimeout(ok, Number(secs) * 1000));
const { result } = await call('Profiler.stop');
writeFileSync(out, JSON.stringify(result.profile));
ws.close();
console.log(`${result.profile.samples.length} samples → ${out}`);
