/**
 * Readers: argv, environment, ini (uWSGI's dialect) and JSON → raw entries, each with where it
 * came from so every error can name `file:line` and the key.
 *
 * The ini reader is tsgi's own (docs/ARCHITECTURE.md): uWSGI's dialect needs repeated keys, `%(name)`
 * placeholders (also of keys that are not options), `$(ENV)`, magic variables, includes and
 * inline comments, which a generic ini reader drops or gets wrong.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, resolve } from 'node:path';
import { allNames, findOption } from './options.ts';
import { ConfigError } from './error.ts';
import { STATE_ENV } from '../master/protocol.ts';
import { PHASES_ENV } from '../phases.ts';

export { ConfigError } from './error.ts';

/** One `key = value` as read, before it is checked against the option table. */
export interface Entry {
  key: string;
  /** The text given; null for a bare flag (`--master`, `master` alone, `master =`). */
  value: string | null;
  /** Where: "app.ini:7", "--processes", "env UWSGI_PROCESSES". */
  origin: string;
  /** Came from an `inherit`ed file: the including file's own entries win over it. */
  inherited?: boolean;
}

export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length][b.length];
}

/** The closest option name within `max` edits, for "did you mean". */
export function suggest(name: string, max = 3): string | undefined {
  let best: string | undefined;
  let bestD = max + 1;
  for (const n of allNames()) {
    const dist = editDistance(name, n);
    if (dist < bestD) {
      best = n;
      bestD = dist;
    }
  }
  return best;
}

/** `file.ini:section` → file and section (a Windows drive or a plain path has no section). */
export function splitSection(spec: string, fallback = 'uwsgi'): { file: string; section: string } {
  const m = /^(.*\.(?:ini|json|js)):([A-Za-z0-9_.-]+)$/.exec(spec);
  return m ? { file: m[1], section: m[2] } : { file: spec, section: fallback };
}

function readText(path: string, origin: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/^\uFEFF/, '');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ConfigError(`${origin}: cannot read ${path}${code === 'ENOENT' ? ': no such file' : `: ${(e as Error).message}`}`);
  }
}

interface IniContext {
  env: Record<string, string | undefined>;
  /** Absolute paths being read, for include loops. */
  stack: string[];
}

/** Cut an inline comment: `;` or `#` after white space (uWSGI itself chokes on these). */
function stripComment(value: string): string {
  const m = /\s[;#]/.exec(value);
  return m ? value.slice(0, m.index) : value;
}

/**
 * Read one section of an ini file. Entries come out in file order, with `ini =` includes read
 * in place and `inherit =` files first (marked inherited).
 */
export function readIni(spec: string, ctx: IniContext, origin = spec): Entry[] {
  const { file, section } = splitSection(spec);
  const path = resolve(file);
  if (ctx.stack.includes(path)) {
    throw new ConfigError(`${origin}: include loop: ${[...ctx.stack, path].join(' → ')}`);
  }
  const text = readText(path, origin);
  const shown = file;
  const magic: Record<string, string> = {
    d: dirname(path) + '/',
    n: basename(path, extname(path)),
    p: path,
    c: basename(dirname(path)),
    e: extname(path).slice(1),
    s: basename(path),
  };
  const placeholders = new Map<string, string>();
  const own: Entry[] = [];
  const base: Entry[] = [];
  /** Keys that are not options, by line: an error unless used as a %(placeholder). */
  const unknown = new Map<string, number>();
  let current: string | null = null;
  let sawSection = false;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const at = `${shown}:${i + 1}`;
    const line = lines[i].trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const sec = /^\[([^\]]*)\]\s*(?:[;#].*)?$/.exec(line);
    if (sec) {
      current = sec[1].trim();
      if (current === section) sawSection = true;
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    const key = (eq < 0 ? stripComment(line) : line.slice(0, eq)).trim();
    if (!/^[A-Za-z0-9_.-]+$/.test(key)) throw new ConfigError(`${at}: '${key}' is not a valid key`);
    let raw = eq < 0 ? null : stripComment(line.slice(eq + 1)).trim();
    if (raw !== null) raw = expand(raw, at, key, placeholders, magic, ctx.env, (used) => unknown.delete(used));
    const value = raw === '' ? null : raw;
    if (key === 'set-placeholder') {
      const p = (value ?? '').indexOf('=');
      if (p <= 0) throw new ConfigError(`${at}: set-placeholder: expected NAME=VALUE`);
      placeholders.set((value as string).slice(0, p), (value as string).slice(p + 1));
      continue;
    }
    placeholders.set(key, value ?? '');
    if (key === 'ini' || key === 'inherit') {
      if (!value) throw new ConfigError(`${at}: ${key}: needs a file name`);
      const target = resolve(dirname(path), value);
      const sub = readIni(target, { ...ctx, stack: [...ctx.stack, path] }, at);
      if (key === 'ini') own.push(...sub);
      else base.push(...sub.map((e) => ({ ...e, inherited: true })));
      continue;
    }
    if (!findOption(key)) {
      // uWSGI takes keys it does not know as placeholders: fine if a later line uses it.
      unknown.set(key, i + 1);
      continue;
    }
    own.push({ key, value, origin: at });
  }
  if (!sawSection) {
    throw new ConfigError(`${origin}: ${shown} has no [${section}] section`);
  }
  for (const [key, line] of unknown) {
    const near = suggest(key);
    throw new ConfigError(
      `${shown}:${line}: unknown option '${key}'${near ? ` (did you mean ${near}?)` : ''}; a placeholder must be used as %(${key}) below it`,
    );
  }
  return [...base, ...own];
}

/** %(name) placeholders, $(ENV) variables and magic %d %n %p %c %e %s %%. */
function expand(
  value: string,
  at: string,
  key: string,
  placeholders: Map<string, string>,
  magic: Record<string, string>,
  env: Record<string, string | undefined>,
  used: (name: string) => void,
): string {
  return value.replace(/%\(([^)]*)\)|\$\(([^)]*)\)|%([a-z%])/g, (all, ph: string | undefined, ev: string | undefined, mg: string | undefined) => {
    if (ph !== undefined) {
      const v = placeholders.get(ph);
      used(ph);
      if (v === undefined) throw new ConfigError(`${at}: ${key}: placeholder %(${ph}) is not set above this line`);
      return v;
    }
    if (ev !== undefined) {
      const v = env[ev];
      if (v === undefined) throw new ConfigError(`${at}: ${key}: environment variable $(${ev}) is not set`);
      return v;
    }
    if (mg === '%') return '%';
    return mg !== undefined && mg in magic ? magic[mg] : all;
  });
}

type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

export function readJson(spec: string): Entry[] {
  const { file, section } = splitSection(spec);
  const path = resolve(file);
  let doc: JsonValue;
  try {
    doc = JSON.parse(readText(path, spec)) as JsonValue;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  const body = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? doc[section] : undefined;
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ConfigError(`${file}: has no "${section}" object`);
  }
  return objectEntries(
    body,
    (key) => key,
    (key) => `${file}: "${key}"`,
    file,
  );
}

/** A value of a JSON config key or a serve() field: a scalar, or a list of them for a repeatable option. */
export type ObjectValue = string | number | boolean | null | ReadonlyArray<string | number | boolean>;

/**
 * Entries from an object of option names → values (a JSON config's section, serve()'s options).
 * `nameOf` maps a key to an option name; `originOf` says where a key came from in errors.
 */
export function objectEntries(
  body: Readonly<Record<string, ObjectValue | JsonValue | undefined>>,
  nameOf: (key: string) => string,
  originOf: (key: string) => string,
  file?: string,
): Entry[] {
  const entries: Entry[] = [];
  for (const [key, v] of Object.entries(body)) {
    if (v === undefined) continue;
    const origin = originOf(key);
    const name = nameOf(key);
    for (const item of Array.isArray(v) ? v : [v]) {
      if (item !== null && typeof item === 'object') throw new ConfigError(`${origin}: expected a string, number or boolean`);
      if (!findOption(name)) {
        const near = suggest(name);
        throw new ConfigError(`${origin}: unknown option '${key}'${near ? ` (did you mean ${near}?)` : ''}`);
      }
      entries.push({ key: name, value: item === true || item === null ? null : String(item), origin });
    }
  }
  return entries;
}

/** Values of flag-like options that a following argument can be (e.g. `--chmod-socket 660`). */
const OCTAL = /^[0-7]{3,4}$/;

export interface ArgvResult {
  entries: Entry[];
  /** Config files given as positional arguments, in order. */
  files: string[];
}

export function readArgv(argv: string[]): ArgvResult {
  const entries: Entry[] = [];
  const files: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('-') || arg === '-') {
      const { file } = splitSection(arg);
      if (/\.(ini|json|js)$/.test(file)) {
        files.push(arg);
        continue;
      }
      if (/\.(m?[jt]sx?)$/.test(arg)) throw new ConfigError(`unexpected argument ${arg} (did you mean --app ${arg}?)`);
      throw new ConfigError(`unexpected argument ${arg} (options start with --; config files end in .ini or .json)`);
    }
    const long = arg.startsWith('--');
    const eq = long ? arg.indexOf('=') : -1;
    const name = long ? arg.slice(2, eq < 0 ? undefined : eq) : arg.slice(1);
    const spec = findOption(name);
    const shown = long ? `--${name}` : `-${name}`;
    if (!spec || (!long && !spec.aliases.includes(`-${name}`))) {
      const near = suggest(name);
      throw new ConfigError(`unknown option ${shown}${near ? ` (did you mean --${near}?)` : ''}`);
    }
    let value: string | null = null;
    if (eq >= 0) value = arg.slice(eq + 1);
    else if (spec.type === 'bool') value = null;
    else if (spec.bare !== undefined) {
      if (i + 1 < argv.length && OCTAL.test(argv[i + 1])) value = argv[++i];
    } else {
      if (i + 1 >= argv.length) throw new ConfigError(`${shown} needs a value${spec.metavar ? ` (${spec.metavar})` : ''}`);
      value = argv[++i];
    }
    entries.push({ key: spec.name, value, origin: shown });
  }
  return { entries, files };
}

/** tsgi's own variables, not options: a child's state, the start-up phase trace. */
const INTERNAL_ENV = new Set([STATE_ENV, PHASES_ENV]);

/** UWSGI_PROCESSES=4 (uWSGI's form) and TSGI_PROCESSES=4. */
export function readEnv(env: Record<string, string | undefined>): Entry[] {
  const entries: Entry[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    const m = /^(UWSGI|TSGI)_([A-Z0-9_]+)$/.exec(k);
    if (!m || INTERNAL_ENV.has(k)) continue;
    const name = m[2].toLowerCase().replaceAll('_', '-');
    const spec = findOption(name);
    if (!spec) {
      // uWSGI sets some UWSGI_* variables of its own; an unknown TSGI_* one is a typo.
      if (m[1] === 'TSGI') {
        const near = suggest(name);
        throw new ConfigError(
          `environment variable ${k}: unknown option '${name}'${near ? ` (did you mean TSGI_${near.toUpperCase().replaceAll('-', '_')}?)` : ''}`,
        );
      }
      continue;
    }
    entries.push({ key: spec.name, value: v === '' ? null : v, origin: `env ${k}` });
  }
  return entries;
}
