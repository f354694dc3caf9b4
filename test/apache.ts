/**
 * Debian's Apache httpd for integration tests: one server in the foreground with its own
 * ServerRoot, config, pid file and logs in a temporary directory, listening on a free port of
 * 127.0.0.1, the modules a reverse proxy needs loaded.
 *
 *   import { hasApache, APACHE_MISSING, startApache } from './apache.ts';
 *   describe.skipIf(!hasApache)(`behind Apache${hasApache ? '' : ` (skipped: ${APACHE_MISSING})`}`, () => {
 *     const apache = await startApache(`ProxyPass /u/ uwsgi://127.0.0.1:${port}/`);
 *     await fetch(apache.url('/u/echo'));
 *     await apache.stop();
 *   });
 *
 * The fragment goes at the server level of the config, after the Listen line and the modules, so
 * it can hold ProxyPass lines, <Location> blocks, SetEnv, LogLevel… Any failure to start throws
 * with Apache's error_log; `errorLog()` reads it later (for a test that failed). Processes and
 * the directory are also cleaned up by cleanup() from helpers.ts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, run, tempDir, until, type Proc } from './helpers.ts';
import net from 'node:net';

export const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';
export const hasApache = existsSync(APACHE);
/** Why the Apache tests skip, for their names. */
export const APACHE_MISSING = `${APACHE} is not installed (apt-get install -y apache2)`;

/** Loaded when the file exists (Debian builds some, such as unixd and log_config, in). */
const WANTED = [
  'mpm_event',
  'authz_core',
  'unixd',
  'log_config',
  'env',
  'setenvif',
  'headers',
  'rewrite',
  'proxy',
  'proxy_http',
  'proxy_uwsgi',
  'proxy_fcgi',
  'proxy_scgi',
];

export interface Apache {
  /** The port Apache listens on (127.0.0.1). */
  port: number;
  /** http://127.0.0.1:PORT + path. */
  url(path: string): string;
  /** Apache's error_log so far. */
  errorLog(): string;
  /** Stop it (SIGTERM to the pid it was started as; SIGKILL after 10 s) and wait for the exit. */
  stop(): Promise<void>;
  proc: Proc;
}

/** Start Apache with this config fragment; resolves once it answers on its port. */
export async function startApache(configFragment: string): Promise<Apache> {
  if (!hasApache) throw new Error(APACHE_MISSING);
  const dir = tempDir('tsgi-apache-');
  const port = await freePort();
  const errorLog = join(dir, 'error_log');
  const modules = WANTED.filter((m) => existsSync(join(MODULES, `mod_${m}.so`))).map((m) => `LoadModule ${m}_module ${MODULES}/mod_${m}.so`);
  // As root, Apache's children must run as someone else (it refuses to serve as root).
  const user = process.getuid?.() === 0 ? 'User www-data\nGroup www-data' : '';
  const conf = `ServerRoot ${dir}
${modules.join('\n')}
${user}
ServerName 127.0.0.1
Listen 127.0.0.1:${port}
PidFile ${dir}/httpd.pid
DefaultRuntimeDir ${dir}
ErrorLog ${errorLog}
LogLevel warn
LogFormat "%h %r %>s %b" tsgi
CustomLog ${dir}/access_log tsgi
StartServers 1
ServerLimit 1
ThreadsPerChild 25
MaxRequestWorkers 25
Timeout 60
<Directory />
  Require all denied
</Directory>
${configFragment}
`;
  const confFile = join(dir, 'httpd.conf');
  writeFileSync(confFile, conf);
  const proc = run(APACHE, ['-d', dir, '-f', confFile, '-DFOREGROUND']);
  const readLog = () => (existsSync(errorLog) ? readFileSync(errorLog, 'utf8') : '');
  let exited = false;
  void proc.exited.then(() => (exited = true));
  const up = await until(async () => exited || (await answers(port)), 30_000);
  if (!up || exited) {
    proc.signal('SIGKILL');
    throw new Error(
      `Apache did not start on 127.0.0.1:${port}${exited ? ' (it exited)' : ''}\n--- output:\n${proc.output()}\n--- error_log:\n${readLog()}\n--- config:\n${conf}`,
    );
  }
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    errorLog: readLog,
    async stop() {
      if (!exited) await proc.stop('SIGTERM');
    },
    proc,
  };
}

/** Does something accept on 127.0.0.1:port and answer an HTTP request? */
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(5000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('HEAD /tsgi-apache-probe HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n'));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) done(got.startsWith('HTTP/'));
    });
    s.once('end', () => done(got.startsWith('HTTP/')));
  });
}
