// Time from spawn to the first answered request, per runtime:
//  - cold: from starting `tsgi --master --processes 1` to its first answered request;
//  - respawn: from kill -9 of the only worker to the first request its replacement answers.
// Polls with a uwsgi request every 5 ms. Run: node bench/startup.mjs [rounds=5]
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rounds = Number(process.argv[2] ?? 5);
const commands = {
  node: ['node', ['bin/tsgi.js']],
  bun: ['node_modules/.bin/bun', ['bin/tsgi.js']],
  deno: ['node_modules/.bin/deno', ['run', '-A', 'bin/tsgi.js']],
};
const k = 'REQUEST_URI',
  v = '/';
const block = Buffer.concat([Buffer.from([k.length, 0]), Buffer.from(k), Buffer.from([v.length, 0]), Buffer.from(v)]);
const packet = Buffer.concat([Buffer.from([0, block.length & 255, block.length >> 8, 0]), block]);
const ask = (path) =>
  new Promise((resolve) => {
    const s = net.connect({ path });
    let d = '';
    s.on('connect', () => s.write(packet));
    s.on('data', (x) => (d += x));
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(d.startsWith('HTTP/1.1 200')));
  });
async function firstAnswer(path, since, limitMs = 30000) {
  while (Date.now() - since < limitMs) {
    if (await ask(path)) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 5));
  }
  return NaN;
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log('| runtime | cold start → first answer (median) | worker respawn → first answer (median) |');
console.log('|---|---|---|');
for (const [name, [cmd, pre]] of Object.entries(commands)) {
  const cold = [];
  const respawn = [];
  for (let i = 0; i < rounds; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-start-'));
    const sock = join(dir, 's.sock');
    const t0 = Date.now();
    const p = spawn(cmd, [...pre, '--master', '--processes', '1', '--socket', sock, '--app', 'examples/hello.ts'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let out = '';
    p.stderr.on('data', (d) => (out += d));
    cold.push(await firstAnswer(sock, t0));
    const pid = Number(/spawned tsgi worker 1 \(pid: (\d+)/.exec(out)?.[1]);
    const t1 = Date.now();
    process.kill(pid, 'SIGKILL');
    // Wait until the old worker is gone, then time until someone answers again.
    respawn.push(await firstAnswer(sock, t1));
    process.kill(p.pid, 'SIGTERM');
    await new Promise((r) => p.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`| ${name} | ${median(cold)} ms (${cold.join(', ')}) | ${median(respawn)} ms (${respawn.join(', ')}) |`);
}
