/**
 * bench/lifecycle.mjs, reduced, on the runtime running the tests: a SIGHUP reload in the middle
 * of 32 clients (a new connection per request) fails no request, on --socket UNIX and --http.
 * The full table (every door, cold start, SIGTERM, kill -9, all runtimes): node bench/lifecycle.mjs.
 */
import { describe, expect, test } from 'vitest';
import { cell, runStep, type Door } from '../bench/lifecycle.mjs';
import { RUNTIME, tsgiCommand } from './helpers.ts';

const doors: Door[] = ['socket-unix', 'http'];

describe(`lifecycle under load (${RUNTIME})`, () => {
  test.each(doors)(
    'SIGHUP under 32 clients on %s: no failed request',
    async (door) => {
      const r = await runStep({ command: tsgiCommand(), door, step: 'sighup', clients: 32, requests: 1500 });
      const figure = cell('sighup', r);
      console.log(`[${RUNTIME}] ${door} sighup: ${figure}`);
      expect(r.failed, figure).toBe(0);
      expect(r.note ?? '', figure).toBe(''); // the reload finished within the step's bound
      expect(r.total).toBeGreaterThanOrEqual(1500);
    },
    180_000,
  );
});
