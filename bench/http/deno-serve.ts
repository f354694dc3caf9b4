// Bare Deno HTTP server for bench/http-vs-bare.sh: the hello world of examples/hello.ts (same body,
// same content-type) straight on Deno.serve, no tsgi in between.
//   deno run -A --unstable-net bench/http/deno-serve.ts PORT [PROCESSES=1]
// With PROCESSES > 1 this process spawns PROCESSES - 1 copies of itself; every copy binds
// 127.0.0.1:PORT with reusePort (SO_REUSEPORT, behind --unstable-net), so the kernel spreads
// connections over them.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// The slice of Deno's API used here, typed so the project needs no Deno types.
const Deno = (
  globalThis as unknown as {
    Deno: {
      args: string[];
      execPath(): string;
      serve(o: { port: number; hostname: string; reusePort: boolean; onListen(): void }, h: (req: Request) => Response): unknown;
    };
  }
).Deno;

const port = Number(Deno.args[0] ?? 8080);
const processes = Number(Deno.args[1] ?? 1);

const children: ChildProcess[] = [];
for (let i = 1; i < processes; i++) {
  children.push(
    spawn(Deno.execPath(), ['run', '-A', '--unstable-net', fileURLToPath(import.meta.url), String(port), '1'], { stdio: ['ignore', 'inherit', 'inherit'] }),
  );
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of children) c.kill(sig);
    process.exit(0);
  });
}

Deno.serve({ port, hostname: '127.0.0.1', reusePort: true, onListen() {} }, (req: Request): Response => {
  const url = new URL(req.url);
  return new Response(`Hello from tsgi: ${req.method} ${url.pathname}\n`, {
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
});
