/**
 * How TypeScript is loaded: the startup line names the loader (Node's type stripping on
 * Node ≥ 22.18, tsx on older Node, Bun's and Deno's own), and an app that type stripping cannot
 * run (an enum, a .tsx file) still loads — with tsx, said on stderr — in processes and threads.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, rawExchange, RUNTIME, startTsgi, tempDir, tsgiFails } from './helpers.ts';

afterAll(cleanup);

const get = (path: string) => encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: path, HTTP_HOST: 'x' });
const stripping = RUNTIME === 'node' && Boolean((process.features as { typescript?: unknown }).typescript);
const loader =
  RUNTIME === 'node'
    ? stripping
      ? /TypeScript: node type stripping\n/
      : /TypeScript: tsx \(Node [\d.]+ has no type stripping/
    : new RegExp(`TypeScript: ${RUNTIME}'s own\n`);
const FALLBACK = /type stripping cannot load it \(.*\): loading it with tsx/;

/** An ESM package in a temporary directory holding `files`. */
function appDir(files: Record<string, string>): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe(`TypeScript loading (${RUNTIME})`, () => {
  // Node's compile cache only: Bun and Deno keep caches of their own, which tsgi does not drive.
  test.skipIf(!stripping)('a running tsgi has written its stripped modules to the compile cache (Node writes it only at exit unless asked)', async () => {
    const cache = tempDir();
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '1', '--http-socket', `127.0.0.1:${port}`, '--app', 'examples/hello.ts'], {
      env: { NODE_COMPILE_CACHE: cache },
    });
    // Every process is still running: what is on disk was saved before a child started or once a role was up.
    // The entry's own type, no stat: Node may rename a file it is writing while we list.
    const files = readdirSync(cache, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    expect(files.length).toBeGreaterThan(20);
    await p.stop();
  });

  test('the startup line says which loader runs TypeScript; an erasable app needs no tsx', async () => {
    const port = await freePort();
    const p = await startTsgi(['--socket', `127.0.0.1:${port}`, '--app', 'examples/hello.ts']);
    expect(p.output()).toMatch(loader);
    expect(p.output()).not.toMatch(FALLBACK);
    expect((await rawExchange({ port }, [get('/')])).data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    await p.stop();
  });

  test('an app with an enum, imported from another module, loads in each thread of a worker', async () => {
    const dir = appDir({
      'colour.ts': 'export enum Colour { Red = "red", Blue = "blue" }\n',
      'app.ts': "import { Colour } from './colour.ts';\nexport default (req: Request): Response => new Response('enum ' + Colour.Blue);\n",
    });
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '1', '--threads', '2', '--socket', `127.0.0.1:${port}`, '--chdir', dir, '--app', 'app.ts']);
    const r = await rawExchange({ port }, [get('/')]);
    expect(r.data.toString()).toMatch(/\r\n\r\nenum blue$/);
    // Every core loads the app: both threads of the worker said so on Node's type stripping.
    if (stripping) expect(p.output().match(new RegExp(FALLBACK, 'g'))?.length).toBe(2);
    else expect(p.output()).not.toMatch(FALLBACK);
    await p.stop();
  });

  test('a .tsx app loads', async () => {
    const dir = appDir({ 'app.tsx': "const who: string = 'tsx';\nexport default (req: Request): Response => new Response('hello ' + who);\n" });
    const port = await freePort();
    const p = await startTsgi(['--socket', `127.0.0.1:${port}`, '--chdir', dir, '--app', 'app.tsx']);
    expect((await rawExchange({ port }, [get('/')])).data.toString()).toMatch(/\r\n\r\nhello tsx$/);
    if (stripping) expect(p.output()).toMatch(/app\.tsx: Node's type stripping cannot load it \(\.tsx needs a transform\)/);
    await p.stop();
  });

  test('an app that throws while it loads is not loaded a second time with tsx', async () => {
    const dir = appDir({ 'app.ts': "console.log('loading the app');\nthrow new Error('no database');\n" });
    const r = await tsgiFails(['--socket', `127.0.0.1:${await freePort()}`, '--chdir', dir, '--app', 'app.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/cannot load app .*app\.ts: no database/);
    expect(r.output.match(/loading the app/g)?.length).toBe(1);
    expect(r.output).not.toMatch(FALLBACK);
  });
});
