/**
 * Log lines go to stderr, as uWSGI's do. One write per line, so lines from concurrent requests
 * never interleave within a process.
 */
// A log reader that went away (a closed pipe) must not take the server down with EPIPE.
process.stderr.on?.('error', () => {});

export function log(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : line + '\n');
}

/** An error's stack (or message) for the log. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}
