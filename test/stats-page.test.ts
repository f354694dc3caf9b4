/**
 * The live stats page of --stats-http, rendered in a real headless Chromium (Debian's, driven by
 * playwright-core): the workers table fills, the req/s chart draws and moves with traffic, and
 * a screenshot is kept in test/artifacts/. Run once (on Node): the page is the same for every
 * runtime's master.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, fetchFresh, freePort, ROOT, RUNTIME, startTsgi } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(ROOT, 'test/artifacts/stats-page.png');

afterAll(cleanup);

describe('the --stats-http live page in Chromium', () => {
  test.skipIf(RUNTIME !== 'node')(
    'shows the workers and charts live traffic, offline',
    async () => {
      if (!existsSync(CHROMIUM)) throw new Error('chromium is not installed: run .ci/run or apt-get install -y chromium');
      const { chromium } = await import('playwright-core');
      const [http, stats] = [await freePort(), await freePort()];
      const srv = await startTsgi([
        '--http-socket',
        `127.0.0.1:${http}`,
        '--processes',
        '2',
        '--stats',
        `127.0.0.1:${stats}`,
        '--stats-http',
        '--app',
        'test/fixtures/apps/echo.ts',
        '--disable-logging',
      ]);
      const pids = [...srv.output().matchAll(/spawned tsgi worker \d \(pid: (\d+)/g)].map((m) => m[1]);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      let traffic = true;
      const load = (async () => {
        while (traffic) await (await fetchFresh(`http://127.0.0.1:${http}/sleep?ms=5`)).text();
      })();
      try {
        const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
        // Offline: any request that leaves the stats server fails the test.
        const outside: string[] = [];
        page.on('request', (r) => {
          if (!r.url().startsWith(`http://127.0.0.1:${stats}/`)) outside.push(r.url());
        });
        await page.goto(`http://127.0.0.1:${stats}/`);
        await page.waitForFunction(() => document.querySelectorAll('#workers tr').length === 2, null, { timeout: 30_000 });
        const rowPids = await page.$$eval('#workers tr', (rows) => rows.map((r) => (r as HTMLElement).dataset.pid));
        expect(rowPids.sort()).toEqual(pids.sort());
        expect(await page.textContent('#title')).toContain(`tsgi 0.1.0 on ${RUNTIME}`);
        // The chart has points and the last one shows the traffic.
        await page.waitForFunction(
          () => Number(document.getElementById('rps')?.dataset.points) >= 4 && Number(document.getElementById('rps')?.dataset.last) > 0,
          null,
          { timeout: 30_000 },
        );
        // The requests column moves (sum the column: either worker may take the next request).
        const total = () => [...document.querySelectorAll('#workers tr td:nth-child(4)')].reduce((n, td) => n + Number(td.textContent), 0);
        const before = await page.evaluate(total);
        await page.waitForFunction(`(${total.toString()})() > ${before}`, null, { timeout: 30_000 });
        // Something was drawn: the canvas is not blank.
        const inked = await page.$eval('#rps', (c) => {
          const d = (c as HTMLCanvasElement).getContext('2d')?.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data ?? [];
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
          return n;
        });
        expect(inked).toBeGreaterThan(500);
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
        expect(statSync(SCREENSHOT).size).toBeGreaterThan(10_000);
        expect(outside).toEqual([]);
        // Tools still get the JSON at /, as uWSGI's --stats-http gives it.
        const json = (await (await fetchFresh(`http://127.0.0.1:${stats}/`)).json()) as { workers: unknown[] };
        expect(json.workers).toHaveLength(2);
      } finally {
        traffic = false;
        await load;
        await browser.close();
        await srv.stop();
      }
    },
    150_000,
  );
});
