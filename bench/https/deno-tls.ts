// Bare Deno HTTPS server for bench/https.sh: the hello world of examples/hello.ts on Deno.serve
// with cert and key (h2 and http/1.1 by ALPN), no tsgi.
//   deno run -A --unstable-net bench/https/deno-tls.ts PORT PROCESSES CERT KEY
// With PROCESSES > 1 this process spawns PROCESSES - 1 copies of itself, all binding with reusePort.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const Deno = (
  globalThis as unknown as {
    Deno: {
      args: string[];
      execPath(): string;
      serve(o: { port: number; hostname: string; reusePort: boolean; cert: string; key: string; onListen(): void }, h: (req: Request) => Response): unknown;
    };
  }
).Deno;

const [port, processes, cert, key] = [Number(Deno.args[0]), Number(Deno.args[1] ?? 1), Deno.args[2], Deno.args[3]];
const children: ChildProcess[] = [];
for (let i = 1; i < processes; i++) {
  children.push(
    spawn(Deno.execPath(), ['run', '-A', '--unstable-net', fileURLToPath(import.meta.url), String(port), '1', cert, key], {
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of children) c.kill(sig);
    process.exit(0);
  });
}

Deno.serve(
  { port, hostname: '127.0.0.1', reusePort: true, cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8'), onListen() {} },
  (req: Request): Response =>
    new Response(`Hello from tsgi: ${req.method} ${new URL(req.url).pathname}\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } }),
);
