/**
 * The IPC message guards (src/master/protocol.ts): each set takes its own tags and nothing else,
 * so a message of another set, or anything that is not a message, is ignored by its receiver.
 */
import { describe, expect, test } from 'vitest';
import { isLauncherMessage, isRouterMessage, isRouterReport, isThreadCommand, isThreadMessage, isWorkerMessage } from '../../src/master/protocol.ts';
import { RUNTIME } from '../helpers.ts';

describe(`IPC message guards (${RUNTIME})`, () => {
  test('each set takes its own tags', () => {
    for (const t of ['ready', 'status', 'busy', 'recycle']) expect(isWorkerMessage({ t })).toBe(true);
    expect(isRouterMessage({ t: 'workers', ready: 2 })).toBe(true);
    expect(isRouterMessage({ t: 'stop' })).toBe(false);
    expect(isRouterReport({ t: 'ready' })).toBe(true);
    expect(isLauncherMessage({ t: 'exit', code: 0 })).toBe(true);
    expect(isLauncherMessage({ t: 'started' })).toBe(true);
    for (const t of ['ready', 'failed', 'status', 'busy', 'stopped']) expect(isThreadMessage({ t })).toBe(true);
    expect(isThreadCommand({ t: 'stop' })).toBe(true);
  });

  test('another set, an unknown tag or no message at all is refused', () => {
    expect(isWorkerMessage({ t: 'stop' })).toBe(false);
    expect(isWorkerMessage({ t: 'exit', code: 1 })).toBe(false);
    expect(isRouterMessage({ t: 'ready' })).toBe(false);
    expect(isLauncherMessage({ t: 'stop' })).toBe(false);
    expect(isThreadCommand({ t: 'status' })).toBe(false);
    for (const m of [null, undefined, 'ready', 3, {}, { t: 1 }, { t: 'toString' }, { t: '__proto__' }]) {
      expect(isWorkerMessage(m)).toBe(false);
      expect(isRouterMessage(m)).toBe(false);
    }
  });
});
