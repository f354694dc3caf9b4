/**
 * Users and groups by name or number, read from /etc/passwd and /etc/group (no native addon, no
 * NSS: names served only by LDAP or systemd-userdb are not found — give numbers then). What
 * --uid, --gid and --chown-socket resolve to, checked once at startup.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/index.ts';
import type { Identity } from '../../runtimes/types.ts';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMBER = /^\d+$/;

/** /etc/passwd lines (name:password:uid:gid:gecos:home:shell); malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !NUMBER.test(f[2]) || !NUMBER.test(f[3])) continue;
    out.push({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) });
  }
  return out;
}

/** /etc/group lines (name:password:gid:member,member); malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 4 || !NUMBER.test(f[2])) continue;
    out.push({ name: f[0], gid: Number(f[2]), members: f[3].split(',').filter((m) => m !== '') });
  }
  return out;
}

/** The account databases, read once. */
export class Accounts {
  readonly #users: PasswdEntry[];
  readonly #groups: GroupEntry[];

  constructor(users: PasswdEntry[], groups: GroupEntry[]) {
    this.#users = users;
    this.#groups = groups;
  }

  static read(passwd = '/etc/passwd', group = '/etc/group'): Accounts {
    return new Accounts(parsePasswd(readOr(passwd)), parseGroup(readOr(group)));
  }

  /** A user by name or number; a number with no entry stands for itself (no primary group known). */
  user(spec: string, option: string): { uid: number; name?: string; gid?: number } {
    const entry = NUMBER.test(spec) ? this.#users.find((u) => u.uid === Number(spec)) : this.#users.find((u) => u.name === spec);
    if (entry) return { uid: entry.uid, name: entry.name, gid: entry.gid };
    if (NUMBER.test(spec)) return { uid: Number(spec) };
    throw new ConfigError(`${option} ${spec}: no such user in /etc/passwd (give a user name listed there, or a number)`);
  }

  group(spec: string, option: string): number {
    if (NUMBER.test(spec)) return Number(spec);
    const entry = this.#groups.find((g) => g.name === spec);
    if (!entry) throw new ConfigError(`${option} ${spec}: no such group in /etc/group (give a group name listed there, or a number)`);
    return entry.gid;
  }

  /** The name of a user or a group for a message, else its number. */
  userName(uid: number): string {
    return this.#users.find((u) => u.uid === uid)?.name ?? String(uid);
  }

  groupName(gid: number): string {
    return this.#groups.find((g) => g.gid === gid)?.name ?? String(gid);
  }

  /** The groups a user is a member of (initgroups), with `gid` first. */
  groupsOf(name: string | undefined, gid: number): number[] {
    const extra = name === undefined ? [] : this.#groups.filter((g) => g.members.includes(name)).map((g) => g.gid);
    return [...new Set([gid, ...extra])];
  }
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * --uid and --gid as numbers: the user's primary group unless --gid says another, and the
 * supplementary groups of the user (initgroups), or only the group with --gid alone. Null when
 * neither is given.
 */
export function resolveIdentity(accounts: Accounts, uid: string | undefined, gid: string | undefined): Identity | null {
  if (uid === undefined && gid === undefined) return null;
  const group = gid === undefined ? undefined : accounts.group(gid, '--gid');
  if (uid === undefined) {
    const g = group as number;
    return { gid: g, groups: [g] };
  }
  const user = accounts.user(uid, '--uid');
  const primary = group ?? user.gid;
  if (primary === undefined) {
    throw new ConfigError(`--uid ${uid}: this user is not in /etc/passwd, so its group is unknown: give --gid too`);
  }
  return { uid: user.uid, gid: primary, groups: accounts.groupsOf(user.name, primary) };
}

/** --chown-socket USER[:GROUP]: the owner of the UNIX sockets tsgi creates (the user's group without GROUP). */
export function resolveOwner(accounts: Accounts, spec: string | undefined): { uid: number; gid: number } | undefined {
  if (spec === undefined) return undefined;
  const [u, g] = spec.split(':', 2);
  const user = accounts.user(u, '--chown-socket');
  const gid = g !== undefined && g !== '' ? accounts.group(g, '--chown-socket') : user.gid;
  if (gid === undefined) throw new ConfigError(`--chown-socket ${spec}: this user is not in /etc/passwd: give USER:GROUP`);
  return { uid: user.uid, gid };
}

/** What the user's --uid, --gid and --chown-socket resolve to (ConfigError for an unknown name). */
export function resolvePrivileges(o: { uid?: string; gid?: string; chownSocket?: string }): {
  identity?: Identity;
  socketOwner?: { uid: number; gid: number };
} {
  if (o.uid === undefined && o.gid === undefined && o.chownSocket === undefined) return {};
  const accounts = Accounts.read();
  return { identity: resolveIdentity(accounts, o.uid, o.gid) ?? undefined, socketOwner: resolveOwner(accounts, o.chownSocket) };
}
