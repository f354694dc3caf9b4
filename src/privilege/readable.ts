/**
 * Files the serving processes read after the privilege drop (certificates and keys, at startup
 * and on each reload): checked by the launcher, still root, against the owner, group and other
 * bits for the --uid/--gid user, so that a root-only key stops tsgi with one line instead of
 * every worker failing once it is nobody. POSIX ACLs are not read (a file readable only through
 * an ACL is refused: give it group read instead).
 */
import { realpathSync, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Identity } from '../../runtimes/types.ts';
import { ConfigError } from '../config/index.ts';
import { Accounts } from './accounts.ts';

const READ = 4;
const SEARCH = 1;

/** The directories from / down to `file`'s, for the path as given and for where it points. */
function dirsOf(file: string): string[] {
  const dirs = new Set<string>();
  for (const path of new Set([file, realOr(file)])) {
    for (let d = dirname(path); ; d = dirname(d)) {
      dirs.add(d);
      if (d === dirname(d)) break;
    }
  }
  return [...dirs].sort();
}

function realOr(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    return file;
  }
}

function statOr(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** Checks paths against one user's owner/group/other bits. */
export class ReadableAs {
  readonly #id: Identity & { uid: number };
  readonly #accounts: Accounts;

  constructor(id: Identity & { uid: number }, accounts: Accounts) {
    this.#id = id;
    this.#accounts = accounts;
  }

  /** Null when the drop keeps root (no --uid, or --uid 0): root reads everything. */
  static for(id: Identity | undefined): ReadableAs | null {
    if (id?.uid === undefined || id.uid === 0) return null;
    return new ReadableAs({ ...id, uid: id.uid }, Accounts.read());
  }

  /** Throw a ConfigError naming the first directory or file the user cannot reach or read. */
  check(option: string, files: string[]): void {
    for (const file of files) {
      for (const dir of dirsOf(file)) this.#need(option, dir, SEARCH, 'enter the directory');
      this.#need(option, file, READ, 'read');
    }
  }

  #need(option: string, path: string, bit: number, what: string): void {
    const st = statOr(path);
    // A missing file is reported by the read itself.
    if (!st || this.#allows(st, bit)) return;
    const user = this.#accounts.userName(this.#id.uid);
    const group = this.#accounts.groupName(this.#id.gid);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const owner = `${this.#accounts.userName(st.uid)}:${this.#accounts.groupName(st.gid)}`;
    const chmod = `chmod g+${bit === READ ? 'r' : 'x'} ${path}`;
    const fix = this.#id.groups.includes(st.gid) ? chmod : `chgrp ${group} ${path} && ${chmod}`;
    throw new ConfigError(
      `--${option}: ${user} (--uid) cannot ${what} ${path} (${owner}, mode ${mode}): tsgi's serving processes read the certificates as ${user} after the privilege drop (at startup and on each reload); give its group access: ${fix}`,
    );
  }

  /** The owner's bits for the owner, the group's for a member, else the others' (as the kernel does). */
  #allows(st: Stats, bit: number): boolean {
    if (st.uid === this.#id.uid) return ((st.mode >> 6) & bit) !== 0;
    if (this.#id.groups.includes(st.gid)) return ((st.mode >> 3) & bit) !== 0;
    return (st.mode & bit) !== 0;
  }
}
