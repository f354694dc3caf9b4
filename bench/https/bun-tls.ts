// Bare Bun HTTPS server for bench/https.sh: the hello world of examples/hello.ts on Bun.serve with
// `tls` (HTTP/1.1 only: Bun.serve offers no h2 by ALPN, measured with Bun 1.4.5), no tsgi.
//   bun bench/https/bun-tls.ts PORT PROCESSES CERT KEY
// With PROCESSES > 1 this process spawns PROCESSES - 1 copies of itself, all binding with reusePort.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const Bun = (
  globalThis as unknown as {
    Bun: { serve(o: { port: number; hostname: string; reusePort: boolean; tls: { cert: string; key: string }; fetch(req: Request): Response }): unknown };
  }
).Bun;

const [port, processes, cert, key] = [Number(process.argv[2]), Number(process.argv[3] ?? 1), process.argv[4], process.argv[5]];
const children: ChildProcess[] = [];
for (let i = 1; i < processes; i++) {
  children.push(spawn(process.execPath, [fileURLToPath(import.meta.url), String(port), '1', cert, key], { stdio: ['ignore', 'inherit', 'inherit'] }));
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of children) c.kill(sig);
    process.exit(0);
  });
}

Bun.serve({
  port,
  hostname: '127.0.0.1',
  reusePort: true,
  tls: { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') },
  fetch(req: Request): Response {
    return new Response(`Hello from tsgi: ${req.method} ${new URL(req.url).pathname}\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
  },
});
