// serve(): tsgi started from code, on the runtime running the tests — in this process with a
// handler, and as a master with workers from an app file — then reloaded and stopped.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, serve } from '../mod.ts';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, fetchFresh, freePort, type Proc, rawExchange, ROOT, run, scriptCommand, tempDir } from './helpers.ts';

afterAll(cleanup);

const SCRIPT = join(ROOT, 'test/fixtures/serve-script.ts');
const ECHO = join(ROOT, 'test/fixtures/apps/echo.ts');

function startScript(config: object, mode = ''): Proc {
  const [cmd, pre] = scriptCommand(SCRIPT);
  return run(cmd, [...pre, JSON.stringify(config), mode], { stdin: true });
}

function tell(p: Proc, line: string): void {
  p.child.stdin?.write(`${line}\n`);
}

async function httpGet(port: number, path: string): Promise<string> {
  const res = await fetchFresh(`http://127.0.0.1:${port}${path}`);
  return res.text();
}

function uwsgiGet(path: string, socket: string): Promise<{ data: Buffer }> {
  const vars: Array<[string, string]> = [
    ['REQUEST_METHOD', 'GET'],
    ['REQUEST_URI', path],
    ['PATH_INFO', path],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['HTTP_HOST', 'example.test'],
  ];
  return rawExchange({ path: socket }, [encodePacket(vars)]);
}

describe('serve()', () => {
  it('serves a handler from the same file in this process, and stops', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const p = startScript({ httpSocket: `127.0.0.1:${port}`, disableLogging: true }, 'fetch');
    await p.waitFor(/READY 127\.0\.0\.1:\d+/, 30_000);
    expect(p.output()).toContain(`READY 127.0.0.1:${port}`);
    expect(await httpGet(port, '/from/code')).toBe('hello from fetch at /from/code\n');
    tell(p, 'stop');
    await p.waitFor(/STOPPED/, 30_000);
    expect((await p.exited).code).toBe(0);
    await expect(httpGet(port, '/')).rejects.toThrow();
  });

  it('starts a master with workers from an app file, reloads them and stops', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const socket = join(dir, 'app.sock');
    const p = startScript({ app: ECHO, socket: [socket], processes: 2, vacuum: true, disableLogging: true });
    await p.waitFor(/READY /, 60_000);
    expect(p.output()).toContain(`READY ${socket}`);
    const pids = [...p.output().matchAll(/spawned tsgi worker \d \(pid: (\d+)/g)].map((m) => Number(m[1]));
    expect(pids).toHaveLength(2);
    expect((await uwsgiGet('/head', socket)).data.toString()).toMatch(/^HTTP\/1\.1 200 [\s\S]*twelve bytes$/);
    tell(p, 'reload');
    await p.waitFor(/RELOADED/, 60_000);
    const fresh = [...p.output().matchAll(/spawned tsgi worker \d \(pid: (\d+)/g)].map((m) => Number(m[1]));
    expect(fresh).toHaveLength(4);
    expect((await uwsgiGet('/head', socket)).data.toString()).toContain('twelve bytes');
    tell(p, 'stop');
    await p.waitFor(/STOPPED/, 60_000);
    expect((await p.exited).code).toBe(0);
    expect(existsSync(socket)).toBe(false);
    for (const pid of fresh) expect(() => process.kill(pid, 0)).toThrow();
  });

  it('rejects ready when the app cannot be loaded, with the reason', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const p = startScript({ app: join(ROOT, 'test/fixtures/apps/missing.ts'), httpSocket: `127.0.0.1:${port}` });
    await p.waitFor(/FAILED/, 30_000);
    expect(p.output()).toMatch(/FAILED AppLoadError: .*missing\.ts/);
  });

  it('refuses bad options at once, with the option named', () => {
    expect(() => serve({ proceses: 2 } as never)).toThrow(ConfigError);
    expect(() => serve({ proceses: 2 } as never)).toThrow(/serve\(\) option proceses: unknown option 'proceses' \(did you mean processes\?\)/);
    expect(() => serve({ fetch: () => new Response('x'), processes: 2, socket: ':0' })).toThrow(/give app: FILE/);
    expect(() => serve({ harakiri: 'soon' })).toThrow(/harakiri/);
  });
});
