/**
 * A real browser (Debian's Chromium, driven by playwright-core) opens an EventSource and a
 * WebSocket to tsgi — through the --http router, whose relay carries the upgraded connection to
 * a worker — and sees the events and the messages arrive.
 */
import { existsSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { cleanup, freePort, type Proc, RUNTIME, startTsgi } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
let tsgi: Proc | null = null;

afterAll(async () => {
  await tsgi?.stop();
  await cleanup();
});

test(`a page sees Server-Sent Events and WebSocket messages arrive (${RUNTIME})`, async () => {
  if (!existsSync(CHROMIUM)) throw new Error('chromium is not installed: apt-get install -y chromium');
  const { chromium } = await import('playwright-core');
  const port = await freePort();
  tsgi = await startTsgi(['--master', '--processes', '1', '--http', `127.0.0.1:${port}`, '--app', 'test/fixtures/apps/live.ts']);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => document.querySelectorAll('#sse li').length === 3 && document.querySelectorAll('#ws li').length === 2, null, {
      timeout: 60_000,
    });
    expect(await page.$$eval('#sse li', (lis) => lis.map((li) => li.textContent))).toEqual(['event 1', 'event 2', 'event 3']);
    expect(await page.$$eval('#ws li', (lis) => lis.map((li) => li.textContent))).toEqual(['welcome', 'echo: hello from the page']);
  } finally {
    await browser.close();
  }
});
