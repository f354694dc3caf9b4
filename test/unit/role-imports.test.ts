/**
 * What each process role loads before it does anything (issue #15: lighter processes, cold
 * start). The launcher (and a single process) runs src/cli.ts with its static imports, the
 * master src/master/master.ts with its: neither may reach the serving core, the codec (its
 * Request subclass loads Node's fetch classes, ≈ 10 MiB), the router (Hono) or the worker; a
 * single process loads no launcher (nor its TLS checks); the master loads its optional parts
 * (stats server, router supervisor, --touch-reload) only when configured, after or besides its
 * workers; a serving core loads each protocol's server and the TLS code only for a socket of
 * that kind. Read from the source — every `import … from`
 * and `export … from` but `import type`, which type stripping erases — so it is the same on Node,
 * Bun and Deno. Runs on all three.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ROOT } from '../helpers.ts';

const STATIC_IMPORT = /^(?:import|export)\s+(?!type\s)[^;]*?\sfrom\s+'([^']+)'|^import\s+'([^']+)'/gm;

/** Every module `entry` loads through static imports, as paths from the root or package names. */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [resolve(ROOT, entry)];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    const id = relative(ROOT, file);
    if (seen.has(id)) continue;
    seen.add(id);
    for (const m of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) queue.push(join(dirname(file), spec));
      else if (!spec.startsWith('node:')) seen.add(spec);
    }
  }
  return seen;
}

/** What a process that serves no request must not load. */
const SERVING = [/^src\/worker\/server\.ts$/, /^src\/codec\//, /^src\/router\/router\.ts$/, /^src\/master\/worker\.ts$/, /^hono$/, /^@hono\//, /^tsx/];

function servingModules(graph: Set<string>): string[] {
  return [...graph].filter((id) => SERVING.some((re) => re.test(id)));
}

describe('each role loads only what it needs', () => {
  test('the graph is read: the command (src/command.ts) reaches the config reader and the socket activation', () => {
    const graph = staticGraph('src/command.ts');
    expect(graph).toContain('src/config/index.ts');
    expect(graph).toContain('src/master/activation.ts');
  });

  test('the launcher (bin/tsgi.js → src/cli.ts → src/command.ts → src/master/launcher.ts) loads no serving core, codec, router, worker or master', () => {
    const graph = new Set([
      ...staticGraph('bin/tsgi.js'),
      ...staticGraph('src/cli.ts'),
      ...staticGraph('src/command.ts'),
      ...staticGraph('src/master/launcher.ts'),
    ]);
    expect(servingModules(graph)).toEqual([]);
    expect(graph).not.toContain('src/master/master.ts');
    expect(graph).not.toContain('src/stats/top.ts');
    // The TLS checks (and node:crypto) load with the first --https-socket or --https.
    expect(graph).not.toContain('src/tls/check.ts');
  });

  test('no runtime adapter loads the lazy Request or the FFI binder at start (they read the global Request, or load libc, only where a role needs them)', () => {
    const graph = new Set(['runtimes/node.ts', 'runtimes/bun.ts', 'runtimes/deno.ts'].flatMap((f) => [...staticGraph(f)]));
    expect(graph).toContain('runtimes/kept-body.ts');
    for (const lazy of ['runtimes/lazy-request.ts', 'runtimes/bare-socket.ts', 'runtimes/bun-libc.ts', 'runtimes/node-bare.ts', 'runtimes/deno-libc.ts'])
      expect(graph).not.toContain(lazy);
  });

  test('serve() (src/serve.ts) loads no launcher and no serving core until it starts one', () => {
    // It checks a fetch handler at once (src/worker/app.ts, which knows WebSocket answers: their frames' codec).
    const graph = staticGraph('src/serve.ts');
    const starts = /^src\/worker\/server\.ts$|^src\/codec\/(index|request)\.ts$|^src\/master\/(launcher|worker)\.ts$|^src\/router\/|^hono$/;
    expect([...graph].filter((id) => starts.test(id))).toEqual([]);
  });

  test('a child (src/cli.ts) loads no configuration reader before its role module', () => {
    const graph = staticGraph('src/cli.ts');
    expect([...graph].filter((id) => /^src\/config\/|^src\/command\.ts$|^src\/plan\.ts$/.test(id))).toEqual([]);
  });

  test('the master reaches no option table or configuration reader before it spawns its workers', () => {
    const graph = new Set([...staticGraph('src/cli.ts'), ...staticGraph('src/master/master.ts')]);
    expect([...graph].filter((id) => /^src\/config\/(index|options|read)\.ts$/.test(id))).toEqual([]);
  });

  test('a single process (src/cli.ts → src/command.ts) loads no launcher, TLS code or stats server before it serves', () => {
    const graph = new Set([...staticGraph('src/cli.ts'), ...staticGraph('src/command.ts')]);
    expect([...graph].filter((id) => /^src\/master\/launcher\.ts$|^src\/tls\/(check|material|reload|client-cert)\.ts$|^src\/stats\//.test(id))).toEqual([]);
  });

  test('the master loads no serving core, codec, router or worker', () => {
    expect(servingModules(staticGraph('src/master/master.ts'))).toEqual([]);
  });

  test('the master loads the stats server, the router supervisor, --touch-reload and the stats snapshot only when configured', () => {
    const graph = staticGraph('src/master/master.ts');
    expect(graph).toContain('src/master/pool.ts');
    expect([...graph].filter((id) => /^src\/stats\/|^src\/router\/|^src\/master\/(touch|snapshot)\.ts$/.test(id))).toEqual([]);
  });

  test('a serving core loads no protocol server and no TLS code before a socket of its kind', () => {
    const graph = staticGraph('src/worker/server.ts');
    const lazy = /^src\/worker\/(uwsgi|fastcgi|scgi|http1|internal|cgi-conn)\.ts$|^src\/tls\/(check|material|reload|client-cert)\.ts$/;
    expect([...graph].filter((id) => lazy.test(id))).toEqual([]);
  });

  test('a worker loads no router', () => {
    const graph = staticGraph('src/master/worker.ts');
    expect(graph).toContain('src/worker/server.ts');
    expect([...graph].filter((id) => /^src\/router\/router\.ts$|^hono$/.test(id))).toEqual([]);
  });
});
