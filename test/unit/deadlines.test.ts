// The shared head-timeout timer of a socket's connections (runtimes/deadlines.ts).
import { describe, expect, it, vi } from 'vitest';
import { Deadlines } from '../../runtimes/deadlines.ts';

/** Resolves once `f()` holds, checked every 10 ms, failing after 10 s. */
async function until(f: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !f(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(f()).toBe(true);
}

describe('Deadlines', () => {
  it('expires every wait not removed, in the order they were added', async () => {
    const d = new Deadlines(30);
    const expired: string[] = [];
    const wait = (name: string) => ({ expire: () => expired.push(name) });
    const a = wait('a');
    const b = wait('b');
    const c = wait('c');
    d.add(a);
    d.add(b);
    d.add(c);
    d.remove(b);
    await until(() => expired.length === 2);
    expect(expired).toEqual(['a', 'c']);
  });

  it('a wait added after the first expired still expires (the timer is set again)', async () => {
    const d = new Deadlines(20);
    const expired: string[] = [];
    d.add({ expire: () => expired.push('first') });
    await until(() => expired.length === 1);
    d.add({ expire: () => expired.push('second') });
    await until(() => expired.length === 2);
    expect(expired).toEqual(['first', 'second']);
  });

  it('a wait removed before its time never expires, even when others come later', async () => {
    const d = new Deadlines(20);
    const expired: string[] = [];
    const early = { expire: () => expired.push('early') };
    d.add(early);
    d.remove(early);
    d.add({ expire: () => expired.push('late') });
    await until(() => expired.length === 1);
    expect(expired).toEqual(['late']);
  });

  it('connections that come and go one at a time share one timer (none set and cleared per connection)', () => {
    const d = new Deadlines(60_000);
    const set = vi.spyOn(globalThis, 'setTimeout');
    const cleared = vi.spyOn(globalThis, 'clearTimeout');
    try {
      for (let i = 0; i < 100; i++) {
        const c = { expire: () => {} };
        d.add(c);
        d.remove(c);
      }
      expect(set.mock.calls.length).toBe(1);
      expect(cleared.mock.calls.length).toBe(0);
    } finally {
      set.mockRestore();
      cleared.mockRestore();
    }
  });

  it('a wait added while the timer of an earlier one runs gets its whole time', async () => {
    const d = new Deadlines(150);
    const first = { expire: () => {} };
    d.add(first);
    d.remove(first);
    await new Promise((r) => setTimeout(r, 100));
    const added = performance.now();
    let expiredAt = 0;
    d.add({ expire: () => (expiredAt = performance.now()) });
    await until(() => expiredAt > 0);
    expect(expiredAt - added).toBeGreaterThanOrEqual(149);
  });

  it('one Deadlines per length of wait', () => {
    expect(Deadlines.of(4000)).toBe(Deadlines.of(4000));
    expect(Deadlines.of(4000)).not.toBe(Deadlines.of(5000));
  });
});
