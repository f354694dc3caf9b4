/** --touch-reload: reload when a file's mtime changes (polled each second, as uWSGI does). */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

function mtime(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

export class TouchReload {
  readonly #files: string[];
  readonly #seen: number[];
  readonly #reload: (why: string) => void;

  /** Watch `files` (relative to `cwd`); `reload` runs with a reason each time one is touched. */
  /** `unref`: the polling does not keep the process alive (a serving process's certificate watch). */
  constructor(files: string[], cwd: string, reload: (why: string) => void, options: { unref?: boolean } = {}) {
    this.#files = files.map((f) => resolve(cwd, f));
    this.#seen = this.#files.map(mtime);
    this.#reload = reload;
    if (files.length === 0) return;
    const timer = setInterval(() => this.#poll(), 1000);
    if (options.unref) timer.unref?.();
  }

  #poll(): void {
    this.#files.forEach((f, i) => {
      const t = mtime(f);
      if (t === this.#seen[i]) return;
      this.#seen[i] = t;
      this.#reload(`${f} touched`);
    });
  }
}
