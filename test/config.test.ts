/**
 * The option table and its readers: argv, uWSGI's ini dialect, JSON, environment, --help, and
 * the README's table. Plus starting a real server from an ini file on this runtime.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError, loadConfig, optionsMarkdown, OPTIONS, renderHelp, type TsgiOptions } from '../src/config/index.ts';
import { readIni, readJson } from '../src/config/read.ts';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, rawExchange, ROOT, RUNTIME, startTsgi, tempDir, tsgiFails } from './helpers.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'config');
const fx = (name: string) => join(DIR, name);

afterAll(cleanup);

function options(argv: string[], env: Record<string, string> = {}): TsgiOptions {
  const cmd = loadConfig(argv, env, DIR);
  if (cmd.kind !== 'serve') throw new Error(`expected serve, got ${cmd.kind}`);
  return cmd.options;
}
function error(argv: string[], env: Record<string, string> = {}): string {
  try {
    loadConfig(argv, env, DIR);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('argv', () => {
  test('--name value, --name=value, bare flags, short aliases, repeats', () => {
    const o = options(['--socket', ':3031', '-s', '/tmp/a.sock', '--app=x.ts', '--vacuum', '-b', '8k', '--chmod-socket', '--env', 'A=1', '--env=B=2']);
    expect(o.socket).toEqual([':3031', '/tmp/a.sock']);
    expect(o.app).toBe('x.ts');
    expect(o.vacuum).toBe(true);
    expect(o.bufferSize).toBe(8192);
    expect(o.chmodSocket).toBe(0o666);
    expect(o.env).toEqual(['A=1', 'B=2']);
  });

  test('aliases: --wsgi-file and --file are --app; -p and --workers are --processes', () => {
    expect(options(['--wsgi-file', 'a.ts']).app).toBe('a.ts');
    expect(options(['--file', 'b.ts']).app).toBe('b.ts');
    expect(options(['-p', '4']).processes).toBe(4);
    expect(options(['--workers', '3']).processes).toBe(3);
  });

  test('a bool flag does not eat the next argument; =false works', () => {
    const o = options(['--vacuum', '--socket', ':1']);
    expect(o.vacuum).toBe(true);
    expect(o.socket).toEqual([':1']);
    expect(options(['--vacuum=false']).vacuum).toBe(false);
    expect(options(['--chmod-socket', '660']).chmodSocket).toBe(0o660);
    expect(options(['--chmod-socket=600']).chmodSocket).toBe(0o600);
  });

  test('defaults', () => {
    const o = options([]);
    expect(o.bufferSize).toBe(65535);
    expect(o.processes).toBe(1);
    expect(o.threads).toBe(1);
    expect(o.master).toBe(false);
    expect(o.callable).toBeUndefined();
    expect(o.socket).toEqual([]);
  });

  test('unknown options suggest the closest', () => {
    expect(error(['--procesess', '4'])).toBe('unknown option --procesess (did you mean --processes?)');
    expect(error(['-q'])).toMatch(/^unknown option -q/);
  });

  test('a non-repeatable option twice is an error naming both', () => {
    expect(error(['--chdir', 'a', '--chdir', 'b'])).toBe('--chdir: chdir is already set at --chdir (it can be given once)');
  });

  test('bad values say why', () => {
    expect(error(['--processes', 'four'])).toBe("--processes: processes: 'four' is not a whole number");
    expect(error(['--buffer-size', '70000'])).toMatch(/70000 is out of range: the uwsgi protocol's vars block is at most 65535 bytes/);
    expect(error(['--chmod-socket=999'])).toMatch(/not an octal file mode/);
    expect(error(['--master=maybe'])).toMatch(/'maybe' is not true\/false/);
    expect(error(['--socket'])).toMatch(/--socket needs a value/);
  });

  test('a .ts positional argument is a likely slip', () => {
    expect(error(['app.ts'])).toBe('unexpected argument app.ts (did you mean --app app.ts?)');
  });

  test('unsupported uWSGI options are refused with a reason, never ignored', () => {
    expect(error(['--plugin', 'python3'])).toMatch(/^--plugin is not supported: tsgi has no plugins/);
    expect(error(['--module', 'x'])).toMatch(/use --app FILE --callable NAME/);
  });

  test('no-op options are accepted with a note', () => {
    const cmd = loadConfig(['--enable-threads', '--die-on-term'], {}, DIR);
    expect(cmd.kind === 'serve' && cmd.notes).toEqual([
      '--enable-threads: nothing to do: there is no GIL to release: --threads works without it',
      '--die-on-term: nothing to do: SIGTERM already stops tsgi gracefully (uWSGI 2.0 reloads on SIGTERM)',
    ]);
  });

  test('--help and --version', () => {
    expect(loadConfig(['--help'], {}, DIR).kind).toBe('help');
    expect(loadConfig(['-h'], {}, DIR).kind).toBe('help');
    expect(loadConfig(['--version'], {}, DIR).kind).toBe('version');
  });
});

describe('environment', () => {
  test('UWSGI_PROCESSES (uWSGI form) and TSGI_PROCESSES', () => {
    expect(options([], { UWSGI_PROCESSES: '4' }).processes).toBe(4);
    expect(options([], { TSGI_BUFFER_SIZE: '16k' }).bufferSize).toBe(16384);
    expect(options([], { UWSGI_VACUUM: '1' }).vacuum).toBe(true);
  });

  test('precedence: defaults < env < files < argv', () => {
    const env = { UWSGI_SOCKET: ':1', UWSGI_CALLABLE: 'fromenv', UWSGI_BUFFER_SIZE: '1000' };
    const o = options([fx('base.ini'), '--buffer-size', '2000'], env);
    expect(o.socket).toEqual([':1111']); // the file beats env
    expect(o.callable).toBe('base'); // the file beats env
    expect(o.bufferSize).toBe(2000); // argv beats the file
  });

  test('unknown UWSGI_* variables are left alone (uWSGI sets some), unknown TSGI_* are errors', () => {
    expect(options([], { UWSGI_ORIGINAL_PROC_NAME: 'x' }).processes).toBe(1);
    expect(error([], { TSGI_PROCESES: '2' })).toMatch(/TSGI_PROCESES: unknown option 'proceses' \(did you mean TSGI_PROCESSES\?\)/);
  });
});

describe('ini dialect', () => {
  const env = { APP_TEST_PORT: '4040' };

  test('comments on their own lines and inline after white space (uWSGI fails on these)', () => {
    const entries = readIni(fx('django.ini'), { env, stack: [] });
    const get = (k: string) => entries.filter((e) => e.key === k).map((e) => e.value);
    expect(get('socket')).toEqual(['127.0.0.1:3031']);
    expect(get('chdir')).toEqual(['/srv/mysite']);
    expect(get('wsgi-file')).toEqual(['app.ts']);
    expect(get('processes')).toEqual(['4']);
    expect(get('threads')).toEqual(['2']);
    expect(entries.find((e) => e.key === 'processes')?.origin).toBe(`${fx('django.ini')}:6`);
  });

  test('the Django-style file loads whole', () => {
    const o = options([fx('django.ini')]);
    expect([o.socket, o.chdir, o.app, o.processes, o.threads, o.stats]).toEqual([['127.0.0.1:3031'], '/srv/mysite', 'app.ts', 4, 2, '127.0.0.1:9191']);
  });

  test('an unsupported option is refused naming file:line', () => {
    const dir = tempDir();
    const f = join(dir, 'h.ini');
    writeFileSync(f, '[uwsgi]\nsocket = :3031\nplugin = python3 ; from an old config\n');
    expect(error([f])).toMatch(new RegExp(`^${f}:3: --plugin is not supported: tsgi has no plugins`));
  });

  test('two sockets, %(placeholders) of non-option keys, set-placeholder, $(ENV), magic %d %n %c %%', () => {
    const o = options([fx('placeholders.ini')], env);
    expect(o.socket).toEqual([`${DIR}/demo.sock`, '127.0.0.1:4040']);
    expect(o.app).toBe(`${DIR}/app.ts`);
    expect(o.env).toEqual(['GREETING=hello world', 'CONFIG=placeholders in config (%)']);
    expect(o.vacuum).toBe(true);
    expect(o.master).toBe(true);
    expect(o.chmodSocket).toBe(0o660);
  });

  test('examples/app.ini, the Django-style deployment, reads as written', () => {
    const o = options([join(ROOT, 'examples/app.ini')]);
    expect(o.socket).toEqual(['127.0.0.1:3031']);
    expect(o.chdir).toBe(join(ROOT, 'examples') + '/');
    expect(o.app).toBe('hello.ts');
    expect([o.master, o.processes, o.threads, o.vacuum, o.stats]).toEqual([true, 4, 2, true, '127.0.0.1:9191']);
  });

  test('file.ini:section picks another section', () => {
    expect(options([`${fx('placeholders.ini')}:other`], env).socket).toEqual([':9999']);
    expect(error([`${fx('base.ini')}:nope`])).toMatch(/has no \[nope\] section/);
  });

  test('--ini FILE is the same as the positional file; argv overrides the file', () => {
    const o = options(['--ini', fx('placeholders.ini'), '--socket', ':7'], env);
    expect(o.socket).toEqual([':7']);
    expect(o.vacuum).toBe(true);
  });

  test('UTF-8 BOM, CRLF, and a flag with an empty value', () => {
    const o = options([fx('bom-crlf.ini')]);
    expect(o.socket).toEqual([':3031']);
    expect(o.app).toBe('app.ts');
    expect(o.vacuum).toBe(true);
  });

  test('inherit = base (this file wins) and ini = include (read in place)', () => {
    const o = options([fx('child.ini')]);
    expect(o.socket).toEqual([':1111']);
    expect(o.bufferSize).toBe(8192);
    expect(o.callable).toBe('child');
    expect(o.env).toEqual(['FROM=extra']);
  });

  test('include loops are found', () => {
    expect(error([fx('loop-a.ini')])).toMatch(/include loop: .*loop-a\.ini → .*loop-b\.ini → .*loop-a\.ini/);
  });

  test('a bad value names file:line, the key and why', () => {
    expect(error([fx('bad-value.ini')])).toBe(`${fx('bad-value.ini')}:4: buffer-size: 'lots' is not a size (bytes, or with k, m, g: 64k, 1m)`);
  });

  test('an unknown key names file:line and the closest option', () => {
    expect(error([fx('unknown-key.ini')])).toMatch(new RegExp(`^${fx('unknown-key.ini')}:3: unknown option 'procesess' \\(did you mean processes\\?\\)`));
  });

  test('a non-repeatable key twice names both lines', () => {
    expect(error([fx('twice.ini')])).toBe(`${fx('twice.ini')}:3: app is already set at ${fx('twice.ini')}:2 (it can be given once)`);
  });

  test('an unset placeholder or environment variable', () => {
    const dir = tempDir();
    const f = join(dir, 'p.ini');
    writeFileSync(f, '[uwsgi]\nsocket = %(nope)\n');
    expect(error([f])).toBe(`${f}:2: socket: placeholder %(nope) is not set above this line`);
    writeFileSync(f, '[uwsgi]\nsocket = $(TSGI_SURELY_UNSET_VAR)\n');
    expect(error([f])).toBe(`${f}:2: socket: environment variable $(TSGI_SURELY_UNSET_VAR) is not set`);
  });

  test('a missing file', () => {
    expect(error([fx('nope.ini')])).toMatch(/cannot read .*nope\.ini: no such file/);
  });
});

describe('JSON', () => {
  test('{"uwsgi": {…}}, arrays for repeated keys, booleans and numbers', () => {
    const o = options([fx('app.json')]);
    expect(o.socket).toEqual(['127.0.0.1:3031', '/tmp/app.sock']);
    expect(o.vacuum).toBe(true);
    expect(o.bufferSize).toBe(32768);
    expect(options(['--json', fx('app.json')]).app).toBe('app.ts');
  });

  test('errors name the file and key', () => {
    expect(() => readJson(fx('base.ini'))).toThrow(/not valid JSON/);
    expect(() => readJson(`${fx('app.json')}:other`)).toThrow(/has no "other" object/);
  });
});

describe('--help and the README come from the table', () => {
  test('--help lists every option that is not refused, grouped, with defaults and signals', () => {
    const help = renderHelp();
    for (const o of OPTIONS.filter((s) => s.status !== 'unsupported')) expect(help).toContain(`--${o.name}`);
    expect(help).toMatch(/Processes:\n/);
    expect(help).toMatch(/--buffer-size, -b BYTES\s+.*\(default: 65535\)/);
    expect(help).toContain('SIGHUP reloads the workers gracefully');
  });

  test("README's option table equals optionsMarkdown() (run: npx tsx scripts/gen-options.ts)", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const block = /<!-- options:begin -->\n([\s\S]*?)<!-- options:end -->/.exec(readme)?.[1];
    expect(block).toBe(optionsMarkdown());
  });
});

describe(`starting from an ini file (${RUNTIME})`, () => {
  test('two sockets, placeholders and comments: both sockets answer', async () => {
    const dir = tempDir();
    const port = await freePort();
    const ini = join(dir, 'site.ini');
    writeFileSync(
      ini,
      `# a site\n[uwsgi]\nroot = ${ROOT}\nsocket = 127.0.0.1:${port} # TCP\nsocket = %dsite.sock ; UNIX\napp = %(root)/examples/hello.ts\nvacuum = true\n`,
    );
    const p = await startTsgi([ini]);
    for (const target of [{ port }, { path: join(dir, 'site.sock') }]) {
      const r = await rawExchange(target, [encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: '/ini', HTTP_HOST: 'x' })]);
      expect(r.data.toString()).toContain('Hello from tsgi: GET /ini');
    }
    await p.stop();
  });

  test('a bad value and an unknown key exit non-zero naming file:line', async () => {
    const bad = await tsgiFails([fx('bad-value.ini')]);
    expect(bad.code).toBe(2);
    expect(bad.output).toContain(`bad-value.ini:4: buffer-size: 'lots' is not a size`);
    const unknown = await tsgiFails([fx('unknown-key.ini')]);
    expect(unknown.code).toBe(2);
    expect(unknown.output).toContain(`unknown-key.ini:3: unknown option 'procesess' (did you mean processes?)`);
  });
});
