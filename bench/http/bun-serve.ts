// Bare Bun HTTP server for bench/http-vs-bare.sh: the hello world of examples/hello.ts (same body,
// same content-type) straight on Bun.serve, no tsgi in between.
//   bun bench/http/bun-serve.ts PORT [PROCESSES=1]
// With PROCESSES > 1 this process spawns PROCESSES - 1 copies of itself; every copy binds
// 127.0.0.1:PORT with reusePort (SO_REUSEPORT), so the kernel spreads connections over them.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The slice of Bun's API used here, typed so the project needs no bun-types.
const Bun = (
  globalThis as unknown as {
    Bun: { serve(o: { port: number; hostname: string; reusePort: boolean; fetch(req: Request): Response }): unknown };
  }
).Bun;

const port = Number(process.argv[2] ?? 8080);
const processes = Number(process.argv[3] ?? 1);

const children: ChildProcess[] = [];
for (let i = 1; i < processes; i++) {
  children.push(spawn(process.execPath, [fileURLToPath(import.meta.url), String(port), '1'], { stdio: ['ignore', 'inherit', 'inherit'] }));
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
  fetch(req: Request): Response {
    const url = new URL(req.url);
    return new Response(`Hello from tsgi: ${req.method} ${url.pathname}\n`, {
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  },
});
