/**
 * Log lines go to stderr, as uWSGI's do. One write per line, so lines from concurrent requests
 * never interleave within a process.
 */
export function log(line: string): void {
  process.stderr.write(line.endsWith('\n') ? line : line + '\n');
}

/** An error's stack (or message) for the log. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}
