// nodeParentChannel (runtimes/node-compat.ts): a child whose parent died before the child listened
// on its channel still learns that the parent is gone (the channel's 'disconnect' came before any
// listener; the parent's pid is the other sign), on every runtime.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { alive, cleanup, ROOT, run, scriptCommand, tempDir, until } from '../helpers.ts';

afterAll(cleanup);

test('a child orphaned before it takes its channel hears that the parent is gone', async () => {
  const marker = join(tempDir(), 'noticed');
  const file = join(ROOT, 'test/fixtures/orphan.ts');
  const [cmd, args] = scriptCommand(file);
  const middle = run(cmd, [...args, 'middle', marker, JSON.stringify([cmd, ...args])]);
  await middle.exited;
  const pid = Number(/PID (\d+)/.exec(middle.output())?.[1]);
  expect(pid).toBeGreaterThan(0);
  try {
    expect(await until(() => existsSync(marker), 15_000)).toBe(true);
    expect(readFileSync(marker, 'utf8')).toBe('noticed');
    expect(await until(() => !alive(pid), 10_000)).toBe(true);
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
}, 30_000);
