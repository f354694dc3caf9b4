/**
 * The master's worker slots (src/master/pool.ts, slot.ts) over fake children, in memory: a reload
 * keeps the serving worker until the fresh one is ready, a fresh one dying keeps the old one, a
 * recycle replaces the worker, a stop starts nothing more.
 */
import { describe, expect, test } from 'vitest';
import type { Child, Signal } from '../../runtimes/types.ts';
import { WorkerPool } from '../../src/master/pool.ts';
import type { MasterOptions } from '../../src/master/protocol.ts';
import { RUNTIME } from '../helpers.ts';

class FakeChild implements Child {
  static next = 1000;
  readonly pid = FakeChild.next++;
  onMessage: ((message: unknown) => void) | null = null;
  readonly signals: Signal[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #exit: (how: { code: number | null; signal: string | null }) => void = () => {};

  constructor() {
    this.exited = new Promise((r) => (this.#exit = r));
  }

  send(): void {}

  kill(signal: Signal = 'SIGTERM'): void {
    this.signals.push(signal);
  }

  ready(): void {
    this.onMessage?.({ t: 'ready', cores: 1, loadMs: 1 });
  }

  /** Exit, and let the pool's handlers run. */
  async exit(code: number | null, signal: string | null = null): Promise<void> {
    this.#exit({ code, signal });
    await this.exited;
    await new Promise((r) => setTimeout(r, 0));
  }
}

const options: MasterOptions = {
  processes: 1,
  threads: 1,
  maxRequests: 0,
  harakiri: 0,
  reloadOnRss: 0,
  workerReloadMercy: 60,
  reloadMercy: 60,
  touchReload: [],
  shutdownDelay: 0,
};

function pool(handsOver = false) {
  const children: FakeChild[] = [];
  const events = { ready: 0, gone: 0, reloaded: 0 };
  const p = new WorkerPool(
    options,
    handsOver,
    () => {
      const c = new FakeChild();
      children.push(c);
      return c;
    },
    { ready: () => events.ready++, gone: () => events.gone++, reloaded: () => events.reloaded++ },
  );
  return { p, children, events, slot: p.slots[0] };
}

describe(`the master's worker slots (${RUNTIME})`, () => {
  test('a reload: the serving worker serves until the fresh one is ready, then gets SIGTERM', () => {
    const { p, children, events, slot } = pool();
    p.start();
    children[0].ready();
    expect(p.ready()).toBe(true);
    p.reload('test');
    expect(children).toHaveLength(2);
    expect(slot.current?.pid).toBe(children[0].pid);
    expect(slot.next?.pid).toBe(children[1].pid);
    expect(children[0].signals).toEqual([]);
    children[1].ready();
    expect(slot.current?.pid).toBe(children[1].pid);
    expect(slot.next).toBeNull();
    expect(children[0].signals).toEqual(['SIGTERM']);
    expect(events).toEqual({ ready: 2, gone: 0, reloaded: 1 });
    expect(p.serving()).toBe(1);
  });

  test('a fresh worker dying during a reload keeps the old one serving and is started again', async () => {
    const { p, children, slot } = pool();
    p.start();
    children[0].ready();
    p.reload('test');
    await children[1].exit(1);
    expect(slot.current?.pid).toBe(children[0].pid);
    expect(children).toHaveLength(3); // the first death at startup is respawned at once
    expect(slot.next?.pid).toBe(children[2].pid);
  });

  test('a recycle on held sockets: the worker leaves now and a fresh one takes the slot', () => {
    const { p, children, slot } = pool();
    p.start();
    children[0].ready();
    children[0].onMessage?.({ t: 'recycle', reason: 'max-requests 1 reached' });
    expect(slot.current?.pid).toBe(children[1].pid);
    expect(slot.respawns).toBe(1);
  });

  test('a recycle with --reuse-port: the worker serves until its replacement is ready', () => {
    const { p, children, slot } = pool(true);
    p.start();
    children[0].ready();
    children[0].onMessage?.({ t: 'recycle', reason: 'max-requests 1 reached' });
    expect(slot.current?.pid).toBe(children[0].pid);
    expect(slot.next?.pid).toBe(children[1].pid);
    children[1].ready();
    expect(children[0].signals).toEqual(['SIGTERM']);
  });

  test('a death of the serving worker respawns it; after a stop nothing is started', async () => {
    const { p, children, slot } = pool();
    p.start();
    children[0].ready();
    await children[0].exit(null, 'SIGKILL');
    expect(children).toHaveLength(2);
    expect(slot.respawns).toBe(1);
    p.stop();
    await children[1].exit(1);
    p.reload('test');
    expect(children).toHaveLength(2);
  });
});
