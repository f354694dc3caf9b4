/**
 * Log lines go to stderr, as uWSGI's do, or to --logto FILE. Every line is written whole by one
 * write (request lines are gathered per event-loop turn into writes of whole lines, at most
 * 4 KiB each — PIPE_BUF — so lines of different processes never interleave on a pipe; a file
 * is opened O_APPEND, where each write lands whole at the end).
 *
 * --logto: the file is reopened on SIGHUP (reopenLog) and when logrotate moves it away (its
 * inode changes, checked each second); after a copytruncate, O_APPEND writes go on at the new end.
 */
import { closeSync, fstatSync, openSync, statSync, writeSync } from 'node:fs';
import type { Peer } from '../runtimes/types.ts';

// A log reader that went away (a closed pipe) must not take the server down with EPIPE.
process.stderr.on?.('error', () => {});

let file: { path: string; fd: number; ino: number; dev: number } | null = null;
let watcher: ReturnType<typeof setInterval> | null = null;
let pending: string[] = [];
let pendingBytes = 0;
let scheduled = false;
const CHUNK = 4096;

function emit(text: string): void {
  if (file) {
    try {
      writeSync(file.fd, text);
      return;
    } catch {
      // The file is gone or the disk is full: stderr keeps the line.
    }
  }
  process.stderr.write(text);
}

export function log(line: string): void {
  flush();
  emit(line.endsWith('\n') ? line : line + '\n');
}

/** A request log line: written with others of the same event-loop turn. */
export function logRequest(line: string): void {
  pending.push(line);
  pendingBytes += line.length + 1;
  if (pendingBytes >= CHUNK) flush();
  else if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

function flush(): void {
  scheduled = false;
  if (pending.length === 0) return;
  let chunk = '';
  for (const line of pending) {
    if (chunk.length > 0 && chunk.length + line.length + 1 > CHUNK) {
      emit(chunk);
      chunk = '';
    }
    chunk += `${line}\n`;
  }
  pending = [];
  pendingBytes = 0;
  if (chunk) emit(chunk);
}

// Lines queued in the last turn before an exit are written, not lost.
process.on('exit', flush);

/** --logto FILE: every line of this process goes to FILE (created, appended to). Throws if it cannot be opened. */
export function logTo(path: string): void {
  const fd = openSync(path, 'a', 0o640);
  const st = fstatSync(fd);
  const old = file;
  file = { path, fd, ino: st.ino, dev: st.dev };
  if (old) closeSync(old.fd);
  if (!watcher) {
    watcher = setInterval(() => {
      if (!file) return;
      let moved = false;
      try {
        const now = statSync(file.path);
        moved = now.ino !== file.ino || now.dev !== file.dev;
      } catch {
        moved = true; // moved away and not recreated yet
      }
      if (moved) reopenLog();
    }, 1000);
    watcher.unref?.();
  }
}

/** Open the --logto file again (SIGHUP, logrotate). */
export function reopenLog(): void {
  if (!file) return;
  flush();
  try {
    logTo(file.path);
  } catch (e) {
    process.stderr.write(`tsgi: cannot reopen --logto ${file.path}: ${(e as Error).message}\n`);
  }
}

/** An error's stack (or message) for the log. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}

/** "127.0.0.1:50312", or "UNIX socket peer", for log lines. */
export function describePeer(p: Peer): string {
  return p.address ? `${p.address}:${p.port}` : 'UNIX socket peer';
}
