/**
 * Configuration: argv, config files (ini, JSON), environment → one checked TsgiOptions, all
 * through the option table in options.ts.
 *
 * Precedence, lowest to highest: defaults < environment (UWSGI_*, TSGI_*) < config files <
 * command line. The highest layer that sets an option sets all of it (a --socket on the command
 * line replaces the file's sockets); within one layer a repeatable option accumulates and any
 * other option set twice is an error naming both places.
 */
import { resolve } from 'node:path';
import { type Entry, ConfigError, objectEntries, type ObjectValue, readArgv, readEnv, readIni, readJson, splitSection } from './read.ts';
import { Cidr } from './cidr.ts';
import { envName, fieldName, findOption, OPTIONS, type OptionSpec } from './options.ts';
import { parseSni, parseTlsPort } from '../tls/spec.ts';

export { ConfigError, type ObjectValue } from './read.ts';
export { OPTIONS, type OptionSpec } from './options.ts';

export interface TsgiOptions {
  app?: string;
  callable?: string;
  chdir?: string;
  env: string[];
  socket: string[];
  scgiSocket: string[];
  httpSocket: string[];
  httpsSocket: string[];
  sni: string[];
  fastcgiSocket: string[];
  chmodSocket?: number;
  chownSocket?: string;
  vacuum: boolean;
  bufferSize: number;
  socketTimeout: number;
  listen: number;
  reusePort: boolean;
  master: boolean;
  processes: number;
  threads: number;
  maxRequests: number;
  harakiri: number;
  reloadOnRss: number;
  workerReloadMercy: number;
  reloadMercy: number;
  shutdownDelay: number;
  touchReload: string[];
  pidfile?: string;
  uid?: string;
  gid?: string;
  umask?: number;
  http?: string;
  https: string[];
  httpToHttps?: string;
  httpKeepalive: boolean;
  httpTimeout: number;
  httpConnectTimeout?: number;
  staticMap: string[];
  mount: string[];
  manageScriptName: boolean;
  trustedProxy: string[];
  limitPost: number;
  websocketsMaxSize: number;
  websocketsPingFreq: number;
  websocketsPongTolerance: number;
  disableLogging: boolean;
  logto?: string;
  logFormat?: string;
  stats?: string;
  statsHttp: boolean;
  statsMinified: boolean;
  ini: string[];
  json: string[];
  inherit: string[];
  setPlaceholder: string[];
}

export type Command = { kind: 'serve'; options: TsgiOptions; notes: string[] } | { kind: 'help' } | { kind: 'version' };

type Value = string | number | boolean;

const BOOL: Record<string, boolean> = { true: true, false: false, '1': true, '0': false, yes: true, no: false, on: true, off: false };

function parseValue(spec: OptionSpec, e: Entry): Value {
  const bad = (why: string) => new ConfigError(`${e.origin}: ${spec.name}: ${why}`);
  const v = e.value;
  if (spec.type === 'bool') {
    if (v === null) return true;
    const b = BOOL[v.toLowerCase()];
    if (b === undefined) throw bad(`'${v}' is not true/false (true, false, 1, 0, yes, no, on, off)`);
    return b;
  }
  if (v === null) {
    if (spec.bare !== undefined) return parseValue(spec, { ...e, value: spec.bare });
    throw bad('needs a value');
  }
  switch (spec.type) {
    case 'int':
    case 'seconds': {
      if (!/^\d+$/.test(v)) throw bad(`'${v}' is not a whole number`);
      return Number(v);
    }
    case 'size': {
      const m = /^(\d+)\s*([kmg]?)b?$/i.exec(v);
      if (!m) throw bad(`'${v}' is not a size (bytes, or with k, m, g: 64k, 1m)`);
      return Number(m[1]) * { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
    }
    case 'mode': {
      if (!/^0?[0-7]{3}$/.test(v)) throw bad(`'${v}' is not an octal file mode (like 660 or 666)`);
      return parseInt(v, 8);
    }
    default:
      if (v.trim() === '') throw bad('needs a value');
      return v;
  }
}

/** Checks beyond the type: ranges users get wrong. */
function check(spec: OptionSpec, value: Value, origin: string): void {
  const bad = (why: string) => new ConfigError(`${origin}: ${spec.name}: ${why}`);
  if (spec.name === 'buffer-size' && (typeof value !== 'number' || value < 1 || value > 65535)) {
    throw bad(`${value} is out of range: the uwsgi protocol's vars block is at most 65535 bytes`);
  }
  if ((spec.name === 'processes' || spec.name === 'threads') && value === 0) throw bad('must be at least 1');
  if (spec.name === 'trusted-proxy') {
    try {
      Cidr.parse(String(value));
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  if ((spec.name === 'https' || spec.name === 'https-socket') && typeof value === 'string') wrapped(origin, () => parseTlsPort(value, spec.name));
  if (spec.name === 'sni' && typeof value === 'string') wrapped(origin, () => parseSni(value));
  if (spec.name === 'env' || spec.name === 'set-placeholder') {
    if (typeof value !== 'string' || value.indexOf('=') <= 0) throw bad(`'${value}' is not KEY=VALUE`);
  }
}

/** A parse that throws ConfigError, its message prefixed with where the value came from (a flag names itself). */
function wrapped(origin: string, parse: () => unknown): void {
  try {
    parse();
  } catch (e) {
    if (!(e instanceof ConfigError) || origin.startsWith('-')) throw e;
    throw new ConfigError(`${origin}: ${e.message}`);
  }
}

/** One layer (argv, files, env): option name → values with their origins. */
type Layer = Map<string, Array<{ value: Value; origin: string }>>;

function toLayer(entries: Entry[]): Layer {
  // A file's own lines replace what it inherited for the same option.
  const own = new Set(entries.filter((e) => !e.inherited).map((e) => (findOption(e.key) as OptionSpec).name));
  const layer: Layer = new Map();
  for (const e of entries) {
    const spec = findOption(e.key) as OptionSpec;
    if (e.inherited && own.has(spec.name)) continue;
    const value = parseValue(spec, e);
    check(spec, value, e.origin);
    const list = layer.get(spec.name) ?? [];
    if (!spec.repeatable && list.length > 0) {
      throw new ConfigError(`${e.origin}: ${spec.name} is already set at ${list[0].origin} (it can be given once)`);
    }
    list.push({ value, origin: e.origin });
    layer.set(spec.name, list);
  }
  return layer;
}

function defaults(): Record<string, Value | Value[] | undefined> {
  const out: Record<string, Value | Value[] | undefined> = {};
  for (const spec of OPTIONS) out[fieldName(spec.name)] = spec.repeatable ? [] : spec.default;
  out.callable = undefined; // the default export
  return out;
}

/**
 * Read everything and build the options. Throws ConfigError with a one-line message naming
 * where the problem is.
 */
export function loadConfig(argv: string[], env: Record<string, string | undefined>, cwd: string): Command {
  const cli = readArgv(argv);
  if (cli.entries.some((e) => e.key === 'help')) return { kind: 'help' };
  if (cli.entries.some((e) => e.key === 'version')) return { kind: 'version' };

  const files = [
    ...cli.files.map((f) => ({ spec: f, kind: /\.json$/.test(splitSection(f).file) ? 'json' : 'ini' })),
    ...cli.entries.filter((e) => e.key === 'ini' || e.key === 'json').map((e) => ({ spec: e.value ?? '', kind: e.key })),
  ];
  const fileEntries: Entry[] = [];
  for (const f of files) {
    const spec = resolve(cwd, f.spec);
    fileEntries.push(...(f.kind === 'json' ? readJson(spec) : readIni(spec, { env, stack: [] })));
  }
  const layers = [toLayer(readEnv(env)), toLayer(fileEntries), toLayer(cli.entries.filter((e) => e.key !== 'ini' && e.key !== 'json'))];
  return { kind: 'serve', ...combine(layers) };
}

/** serve()'s options: the option table's names in camelCase (`httpSocket`), values as in a JSON config. */
export function configFromObject(body: Readonly<Record<string, ObjectValue | undefined>>): { options: TsgiOptions; notes: string[] } {
  const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
  return combine([toLayer(objectEntries(body, kebab, (key) => `serve() option ${key}`))]);
}

/** Later layers win; refuse what is unsupported, note what does nothing. */
function combine(layers: Layer[]): { options: TsgiOptions; notes: string[] } {
  const out = defaults();
  const notes: string[] = [];
  const set = new Map<string, string>();
  for (const layer of layers) {
    for (const [name, values] of layer) {
      const spec = findOption(name) as OptionSpec;
      out[fieldName(name)] = spec.repeatable ? values.map((v) => v.value) : values[values.length - 1].value;
      set.set(name, values[values.length - 1].origin);
    }
  }
  for (const [name, origin] of set) {
    const spec = findOption(name) as OptionSpec;
    // "app.ini:7: …", "env UWSGI_X: …"; a flag on the command line names itself.
    const where = origin.startsWith('-') ? '' : `${origin}: `;
    if (spec.status === 'unsupported') throw new ConfigError(`${where}--${name} is not supported: ${spec.why}`);
    if (spec.status === 'noop') notes.push(`--${name}: nothing to do: ${spec.why}`);
  }
  const options = out as unknown as TsgiOptions;
  checkTls(options);
  return { options, notes };
}

/** TLS options that need another one. */
function checkTls(o: TsgiOptions): void {
  if (o.httpToHttps !== undefined && o.https.length === 0) throw new ConfigError('--http-to-https needs an --https port of the router to send clients to');
  if (o.sni.length > 0 && o.https.length === 0 && o.httpsSocket.length === 0)
    throw new ConfigError('--sni needs an --https or --https-socket port to serve the certificate on');
}

function flagText(spec: OptionSpec): string {
  const names = [`--${spec.name}`, ...spec.aliases.map((a) => (a.startsWith('-') ? a : `--${a}`))].join(', ');
  if (spec.type === 'bool') return names;
  const meta = spec.metavar ?? spec.type.toUpperCase();
  return spec.bare !== undefined ? `${names}[=${meta}]` : `${names} ${meta}`;
}

function defaultText(spec: OptionSpec): string {
  if (spec.default === undefined || spec.default === '' || spec.type === 'bool') return '';
  return String(spec.default);
}

const GROUPS = ['Application', 'Sockets', 'Processes', 'HTTP', 'Logging', 'Stats', 'Config'] as const;

export function renderHelp(): string {
  const lines = [
    'Usage: tsgi [FILE.ini[:SECTION] | FILE.json] [OPTIONS]',
    "       tsgi top ADDR      a live view of a stats server (tsgi --stats, or uWSGI's): q quits, s sorts",
    '       tsgi check ADDR    is the host behind this stats server ready? exit 0 ready, 1 not ready, 2 unreachable',
    '',
    'A uWSGI-style application server for fetch-handler apps (Node, Bun, Deno)',
    '',
  ];
  for (const g of GROUPS) {
    const specs = OPTIONS.filter((s) => s.group === g && s.status !== 'unsupported');
    if (specs.length === 0) continue;
    lines.push(`${g}:`);
    for (const s of specs) {
      const d = defaultText(s);
      const tag = s.status === 'noop' ? ' [accepted, no effect]' : '';
      const left = `  ${flagText(s)}`;
      const right = `${s.help}${d ? ` (default: ${d})` : ''}${tag}`;
      lines.push(left.length < 34 ? left.padEnd(34) + right : `${left}\n${' '.repeat(34)}${right}`);
    }
    lines.push('');
  }
  const refused = OPTIONS.filter((s) => s.status === 'unsupported').map((s) => `--${s.name}`);
  lines.push(
    `Refused with a reason (uWSGI options that make no sense here): ${refused.join(', ')}.`,
    '',
    'Every option is also an ini/JSON key (processes = 4) and an environment variable',
    '(UWSGI_PROCESSES=4 or TSGI_PROCESSES=4). Precedence, lowest to highest: defaults,',
    'environment, config files, command line.',
    '',
    'Signals: SIGTERM, SIGINT stop gracefully (finish requests in flight; a second one stops now;',
    'with --shutdown-delay a SIGTERM first reports not ready and serves on; a second signal ends the wait);',
    'SIGQUIT stops now; SIGHUP reloads the workers gracefully (--master) and reads TLS certificates again; SIGUSR2 (and SIGUSR1 on',
    'Node and Bun; Deno opens its inspector on SIGUSR1) writes worker stats to the log.',
    '',
  );
  return lines.join('\n');
}

/** The README's table of options, generated from the table (a test keeps them equal). */
export function optionsMarkdown(): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const rows = ['| option | ini / JSON key | environment | default | status | uWSGI meaning |', '|---|---|---|---|---|---|'];
  for (const s of OPTIONS) {
    if (s.name === 'help' || s.name === 'version') continue;
    const status = { implemented: 'yes', noop: `accepted, no effect: ${s.why}`, unsupported: `refused: ${s.why}` }[s.status];
    rows.push(`| \`${esc(flagText(s))}\` | \`${s.name}\` | \`UWSGI_${envName(s.name)}\` | ${esc(defaultText(s)) || '–'} | ${esc(status)} | ${esc(s.uwsgi)} |`);
  }
  return rows.join('\n') + '\n';
}
