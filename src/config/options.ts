/**
 * The option table: the single source of truth for command-line flags, ini and JSON keys,
 * environment variables (UWSGI_NAME / TSGI_NAME), `tsgi --help` and the README's table.
 */

export type OptionType = 'string' | 'int' | 'bool' | 'size' | 'seconds' | 'address' | 'mode' | 'path';

/**
 * implemented: does what uWSGI users expect.
 * noop: accepted, and documented as having nothing to do in tsgi.
 * unsupported: makes no sense here: refused with the reason and what to do instead.
 */
export type OptionStatus = 'implemented' | 'noop' | 'unsupported';

export type OptionGroup = 'Application' | 'Sockets' | 'Processes' | 'HTTP' | 'Logging' | 'Stats' | 'Config';

export interface OptionSpec {
  /** The long name, as in uWSGI: `processes` is `--processes`, ini `processes = …`. */
  name: string;
  /** Other long names (`workers`) and short ones (`-p`). */
  aliases: readonly string[];
  type: OptionType;
  repeatable: boolean;
  /** The default, as shown to users (undefined: unset). */
  default?: string | number | boolean;
  /** For a flag-like option with a value: what a bare `--name` means (`--chmod-socket` = 666). */
  bare?: string;
  group: OptionGroup;
  help: string;
  /** What the option means in uWSGI, for the README. */
  uwsgi: string;
  status: OptionStatus;
  /** For unsupported and noop options: why, and what to do instead. */
  why?: string;
  /** Placeholder for the value in --help. */
  metavar?: string;
}

const o = (spec: Omit<OptionSpec, 'aliases' | 'repeatable' | 'status'> & Partial<Pick<OptionSpec, 'aliases' | 'repeatable' | 'status'>>): OptionSpec => ({
  aliases: [],
  repeatable: false,
  status: 'implemented',
  ...spec,
});

// biome-ignore format: the table is laid out by hand, a few lines per option
export const OPTIONS: readonly OptionSpec[] = [
  // Application
  o({ name: 'app', aliases: ['wsgi-file', 'file'], type: 'path', group: 'Application', metavar: 'FILE',
    help: 'the module to serve: its default export (or --callable) is a fetch handler; resolved after --chdir',
    uwsgi: 'wsgi-file: load a WSGI file' }),
  o({ name: 'callable', type: 'string', group: 'Application', metavar: 'NAME', default: 'default',
    help: 'the export to serve instead of the default export (a function or an object with fetch)',
    uwsgi: 'callable: the WSGI callable name (default "application")' }),
  o({ name: 'chdir', type: 'path', group: 'Application', metavar: 'DIR',
    help: 'change to this directory before loading the app',
    uwsgi: 'chdir: chdir to the directory before apps loading' }),
  o({ name: 'env', type: 'string', repeatable: true, group: 'Application', metavar: 'KEY=VALUE',
    help: 'set an environment variable for the app (repeatable)',
    uwsgi: 'env: set an environment variable' }),
  o({ name: 'module', aliases: ['-w'], type: 'string', group: 'Application', status: 'unsupported',
    why: 'tsgi loads a file: use --app FILE --callable NAME',
    help: 'Python module to load', uwsgi: 'module: load a WSGI module' }),
  o({ name: 'plugin', aliases: ['plugins'], type: 'string', repeatable: true, group: 'Application', status: 'unsupported',
    why: 'tsgi has no plugins: the runtime is the one that started tsgi (node, bun or deno)',
    help: 'load plugins', uwsgi: 'plugins: load uWSGI plugins' }),
  o({ name: 'virtualenv', aliases: ['venv', 'home', '-H'], type: 'path', group: 'Application', status: 'unsupported',
    why: 'there is no Python virtualenv here: install the app\'s packages with npm, bun or deno',
    help: 'Python virtualenv', uwsgi: 'virtualenv: set PYTHONHOME/virtualenv' }),
  o({ name: 'pythonpath', aliases: ['python-path', 'pp'], type: 'path', repeatable: true, group: 'Application', status: 'unsupported',
    why: 'imports resolve as your runtime resolves them (package.json, deno.json)',
    help: 'Python import path', uwsgi: 'pythonpath: add a directory to the Python path' }),
  o({ name: 'py-autoreload', type: 'int', group: 'Application', status: 'unsupported',
    why: 'use --touch-reload FILE, or your runtime\'s watch mode while developing',
    help: 'reload on Python module changes', uwsgi: 'py-autoreload: monitor Python modules and reload' }),
  o({ name: 'need-app', type: 'bool', group: 'Application', status: 'noop', default: true,
    why: 'tsgi always needs the app: it exits with a clear error when the app cannot be loaded',
    help: 'exit if no app can be loaded (always so in tsgi)', uwsgi: 'need-app: exit if no app can be loaded' }),
  o({ name: 'single-interpreter', type: 'bool', group: 'Application', status: 'noop',
    why: 'each core runs one copy of the app', help: 'accepted; nothing to do (one app per core)',
    uwsgi: 'single-interpreter: do not use multiple interpreters' }),

  // Sockets
  o({ name: 'socket', aliases: ['uwsgi-socket', '-s'], type: 'address', repeatable: true, group: 'Sockets', metavar: 'ADDR',
    help: 'serve the uwsgi protocol (nginx uwsgi_pass) on host:port, :port or a UNIX socket path (repeatable)',
    uwsgi: 'socket: bind to the specified UNIX/TCP socket using the default protocol (uwsgi)' }),
  o({ name: 'scgi-socket', type: 'address', repeatable: true, group: 'Sockets', metavar: 'ADDR',
    help: 'serve SCGI (nginx scgi_pass, Apache mod_proxy_scgi) on this address (repeatable)', uwsgi: 'scgi-socket: bind to the specified UNIX/TCP socket using SCGI protocol' }),
  o({ name: 'http-socket', type: 'address', repeatable: true, group: 'Sockets', metavar: 'ADDR',
    help: 'workers speak HTTP on this address (repeatable)', uwsgi: 'http-socket: bind to the socket using the HTTP protocol' }),
  o({ name: 'https-socket', type: 'string', repeatable: true, group: 'Sockets', metavar: 'ADDR,CERT,KEY[,CIPHERS[,CA]]',
    help: 'workers speak HTTPS on this address: TLS 1.2+, HTTP/2 and HTTP/1.1 by ALPN; CIPHERS empty: the runtime\'s defaults; CA: client certificates required (mTLS); certificates reload on SIGHUP and when the files change (repeatable)',
    uwsgi: 'https-socket: bind to the specified UNIX/TCP socket using HTTPS protocol' }),
  o({ name: 'sni', type: 'string', repeatable: true, group: 'Sockets', metavar: 'DOMAIN,CERT,KEY',
    help: 'on every --https and --https-socket port, this certificate for clients that ask for DOMAIN (SNI; *.example.com for one label; repeatable)',
    uwsgi: 'sni: add an SNI-governed SSL context' }),
  o({ name: 'fastcgi-socket', type: 'address', repeatable: true, group: 'Sockets', metavar: 'ADDR',
    help: 'serve FastCGI (nginx fastcgi_pass, Apache mod_proxy_fcgi, Caddy) on this address; keep-alive and multiplexing (repeatable)',
    uwsgi: 'fastcgi-socket: bind to the specified UNIX/TCP socket using FastCGI protocol' }),
  o({ name: 'chmod-socket', type: 'mode', group: 'Sockets', metavar: 'MODE', bare: '666',
    help: 'file mode of UNIX sockets, octal; a bare --chmod-socket means 666',
    uwsgi: 'chmod-socket: chmod the socket (bare: 666)' }),
  o({ name: 'chown-socket', type: 'string', group: 'Sockets', metavar: 'USER[:GROUP]',
    help: 'owner of the UNIX sockets tsgi creates (the stats socket too), set before the privilege drop; GROUP defaults to the user\'s group',
    uwsgi: 'chown-socket: chown unix sockets' }),
  o({ name: 'vacuum', type: 'bool', group: 'Sockets', default: false,
    help: 'remove UNIX sockets (and the pidfile) at exit', uwsgi: 'vacuum: try to remove all of the generated files/sockets' }),
  o({ name: 'buffer-size', aliases: ['-b'], type: 'size', group: 'Sockets', default: 65535, metavar: 'BYTES',
    help: 'largest uwsgi vars block, SCGI header or FastCGI params of a request (all request headers) accepted; at most 65535, the uwsgi protocol\'s maximum',
    uwsgi: 'buffer-size: set internal buffer size (default 4096, a classic cause of 502s)' }),
  o({ name: 'socket-timeout', aliases: ['-z'], type: 'seconds', group: 'Sockets', default: 4, metavar: 'SECS',
    help: 'close a connection that has not sent a whole request head within SECS (slow or idle clients)',
    uwsgi: 'socket-timeout: set internal sockets timeout (default 4)' }),
  o({ name: 'listen', aliases: ['-l'], type: 'int', group: 'Sockets', default: 100, metavar: 'N',
    help: 'listen queue (backlog) of sockets tsgi binds with node:net (--master; Node in one process); the Bun and Deno listeners take the kernel\'s default',
    uwsgi: 'listen: set the socket listen queue size' }),
  o({ name: 'reuse-port', type: 'bool', group: 'Sockets', default: false,
    help: 'Bun, Deno with a master: serve TCP --http-socket and --http ports with the HTTP server built into Bun or Deno, in each process (SO_REUSEPORT): faster, but a worker that stops or starts can reset or refuse connections (see README); no effect on Node',
    uwsgi: 'reuse-port: enable REUSE_PORT flag on socket (BSD and Linux only)' }),
  o({ name: 'protocol', type: 'string', group: 'Sockets', status: 'unsupported',
    why: 'choose the protocol per socket: --socket (uwsgi), --http-socket (HTTP), --fastcgi-socket (FastCGI), --scgi-socket (SCGI)',
    help: 'default protocol', uwsgi: 'protocol: force the specified protocol for default sockets' }),

  // Processes
  o({ name: 'master', aliases: ['-M'], type: 'bool', group: 'Processes', default: false,
    help: 'start a master that supervises, respawns and reloads the workers', uwsgi: 'master: enable master process' }),
  o({ name: 'processes', aliases: ['workers', '-p'], type: 'int', group: 'Processes', default: 1, metavar: 'N',
    help: 'number of worker processes (above 1, a master is started)', uwsgi: 'processes: spawn the specified number of workers/processes' }),
  o({ name: 'threads', type: 'int', group: 'Processes', default: 1, metavar: 'N',
    help: 'event loops (worker threads) per worker process, each with its own copy of the app', uwsgi: 'threads: run each worker in prethreaded mode with the specified number of threads' }),
  o({ name: 'enable-threads', type: 'bool', group: 'Processes', status: 'noop',
    why: 'there is no GIL to release: --threads works without it',
    help: 'accepted; nothing to do (no GIL)', uwsgi: 'enable-threads: enable threads (Python GIL)' }),
  o({ name: 'max-requests', type: 'int', group: 'Processes', default: 0, metavar: 'N',
    help: 'recycle a worker gracefully after N requests (0: never)', uwsgi: 'max-requests: reload workers after the specified amount of managed requests' }),
  o({ name: 'harakiri', type: 'seconds', group: 'Processes', default: 0, metavar: 'SECS',
    help: 'kill (and respawn) a worker whose request runs longer than SECS (0: never)', uwsgi: 'harakiri: set harakiri timeout' }),
  o({ name: 'reload-on-rss', type: 'int', group: 'Processes', default: 0, metavar: 'MB',
    help: 'recycle a worker whose resident memory is above MB (0: never)', uwsgi: 'reload-on-rss: reload if rss memory is higher than specified megabytes' }),
  o({ name: 'worker-reload-mercy', type: 'seconds', group: 'Processes', default: 60, metavar: 'SECS',
    help: 'how long a reloaded or recycled worker may finish its requests before it is killed', uwsgi: 'worker-reload-mercy: set the maximum time a worker can take to reload/shutdown' }),
  o({ name: 'reload-mercy', type: 'seconds', group: 'Processes', default: 60, metavar: 'SECS',
    help: 'how long a stop may wait for the workers before killing them', uwsgi: 'reload-mercy: set the maximum time (in seconds) we wait for workers during reload' }),
  o({ name: 'shutdown-delay', type: 'seconds', group: 'Processes', default: 0, metavar: 'SECS',
    help: 'after SIGTERM, report not ready (the stats server\'s /readyz answers 503) and keep serving SECS more before the graceful stop, so a balancer that polls stops sending first; a second SIGTERM or SIGINT ends the wait (0: stop at once)',
    uwsgi: 'no uWSGI option: as kube-apiserver\'s --shutdown-delay-duration and Traefik\'s requestAcceptGraceTimeout (the preStop sleep of Kubernetes)' }),
  o({ name: 'die-on-term', type: 'bool', group: 'Processes', status: 'noop',
    why: 'SIGTERM already stops tsgi gracefully (uWSGI 2.0 reloads on SIGTERM)',
    help: 'accepted; SIGTERM always stops gracefully', uwsgi: 'die-on-term: exit instead of brutal reload on SIGTERM' }),
  o({ name: 'touch-reload', type: 'path', repeatable: true, group: 'Processes', metavar: 'FILE',
    help: 'reload the workers gracefully when this file\'s mtime changes (repeatable)', uwsgi: 'touch-reload: reload uWSGI if the specified file is modified/touched' }),
  o({ name: 'pidfile', type: 'path', group: 'Processes', metavar: 'FILE',
    help: 'write the master\'s pid to FILE', uwsgi: 'pidfile: create pidfile (before privileges drop)' }),
  o({ name: 'uid', type: 'string', group: 'Processes', metavar: 'USER|UID',
    help: 'run every tsgi process (launcher, master, router, workers) as this user once every socket is bound, before the app loads, with its supplementary groups from /etc/group and its primary group unless --gid (needs root; starts a master)',
    uwsgi: 'uid: setuid to the specified user/uid' }),
  o({ name: 'gid', type: 'string', group: 'Processes', metavar: 'GROUP|GID',
    help: 'run every tsgi process with this group (and it as the only supplementary group with --gid alone), set before --uid',
    uwsgi: 'gid: setgid to the specified group/gid' }),
  o({ name: 'umask', type: 'mode', group: 'Processes', metavar: 'MASK',
    help: 'set the file mode creation mask (octal, like 027) at start, before sockets and log files are created',
    uwsgi: 'umask: set umask' }),
  o({ name: 'lazy-apps', type: 'bool', group: 'Processes', status: 'noop',
    why: 'each worker always loads the app itself (there is no fork of a loaded app)',
    help: 'accepted; workers always load the app themselves', uwsgi: 'lazy-apps: load apps in each worker instead of the master' }),
  o({ name: 'daemonize', type: 'path', group: 'Processes', status: 'unsupported',
    why: 'run tsgi under systemd or your supervisor (see the README\'s unit)',
    help: 'daemonize', uwsgi: 'daemonize: daemonize uWSGI' }),

  // HTTP router
  o({ name: 'http', type: 'address', group: 'HTTP', metavar: 'ADDR',
    help: 'an HTTP router in front of the workers', uwsgi: 'http: add an HTTP router/server on the specified address' }),
  o({ name: 'https', type: 'string', repeatable: true, group: 'HTTP', metavar: 'ADDR,CERT,KEY[,CIPHERS[,CA]]',
    help: 'an HTTPS port of the HTTP router (with or without --http): TLS 1.2+, HTTP/2 and HTTP/1.1 by ALPN; CIPHERS empty: the runtime\'s defaults; CA: client certificates required (mTLS); certificates reload on SIGHUP and when the files change (repeatable)',
    uwsgi: 'https: add an HTTPS router/server on the specified address with specified certificate and key' }),
  o({ name: 'http-to-https', type: 'address', group: 'HTTP', metavar: 'ADDR',
    help: 'a plain HTTP port of the router that answers every request with 308 to the same URL on the first --https port',
    uwsgi: 'http-to-https: add an HTTP router/server on the specified address and redirect all of the requests to HTTPS' }),
  o({ name: 'http-keepalive', type: 'bool', group: 'HTTP', default: true,
    help: 'keep-alive with HTTP clients (--http-socket and the --http router); off: every answer closes its connection', uwsgi: 'http-keepalive: HTTP 1.1 keepalive support' }),
  o({ name: 'http-timeout', type: 'seconds', group: 'HTTP', default: 60, metavar: 'SECS',
    help: 'router timeout waiting for a worker (504)', uwsgi: 'http-timeout: set internal HTTP socket timeout' }),
  o({ name: 'http-connect-timeout', type: 'seconds', group: 'HTTP', metavar: 'SECS',
    help: 'how long the router holds a request while no worker is ready (503 after; default: --http-timeout)',
    uwsgi: 'http-connect-timeout: set internal http socket timeout for backend connections' }),
  o({ name: 'static-map', type: 'string', repeatable: true, group: 'HTTP', metavar: '/PREFIX=DIR',
    help: 'serve files of DIR under /PREFIX', uwsgi: 'static-map: map mountpoint to static directory' }),
  o({ name: 'mount', type: 'string', repeatable: true, group: 'HTTP', metavar: '/PREFIX=FILE',
    help: 'serve another app under /PREFIX', uwsgi: 'mount: load application under mountpoint' }),
  o({ name: 'manage-script-name', type: 'bool', group: 'HTTP', default: false,
    help: 'a path under a --mount prefix goes to that app even when the web server sent another SCRIPT_NAME: split there, the prefix as the mount point',
    uwsgi: 'manage-script-name: automatically rewrite SCRIPT_NAME and PATH_INFO' }),
  o({ name: 'trusted-proxy', type: 'string', repeatable: true, group: 'HTTP', metavar: 'CIDR',
    help: 'believe Forwarded / X-Forwarded-For / X-Forwarded-Proto from peers in this range (10.0.0.0/8, ::1, …; repeatable) on --http-socket and the --http router: the client address and scheme come from them; nobody is trusted by default',
    uwsgi: 'no uWSGI option: as nginx\'s set_real_ip_from with real_ip_recursive, Werkzeug\'s ProxyFix' }),
  o({ name: 'limit-post', type: 'size', group: 'HTTP', default: 0, metavar: 'BYTES',
    help: 'largest request body (413 above; 0: no limit)', uwsgi: 'limit-post: limit request body' }),

  o({ name: 'websockets-max-size', type: 'int', group: 'HTTP', default: 1024, metavar: 'KIB',
    help: 'largest WebSocket message, fragments together, in KiB: a bigger one closes the socket with 1009',
    uwsgi: 'websockets-max-size: set the max allowed size of websocket messages (in Kbytes, default 1024)' }),
  o({ name: 'websockets-ping-freq', aliases: ['websocket-ping-freq'], type: 'seconds', group: 'HTTP', default: 30, metavar: 'SECS',
    help: 'ping every open WebSocket every SECS',
    uwsgi: 'websockets-ping-freq: set the frequency (in seconds) of websockets automatic ping packets' }),
  o({ name: 'websockets-pong-tolerance', aliases: ['websocket-pong-tolerance'], type: 'seconds', group: 'HTTP', default: 3, metavar: 'SECS',
    help: 'close a WebSocket whose client has not answered a ping within SECS',
    uwsgi: 'websockets-pong-tolerance: set the tolerance (in seconds) of websockets ping/pong subsystem' }),

  // Logging
  o({ name: 'disable-logging', type: 'bool', group: 'Logging', default: false,
    help: 'no request log lines (the other log lines stay)', uwsgi: 'disable-logging: disable request logging' }),
  o({ name: 'logto', type: 'path', group: 'Logging', metavar: 'FILE',
    help: 'log to FILE instead of stderr (appended; reopened on SIGHUP and when logrotate moves it)', uwsgi: 'logto: set logfile/udp address' }),
  o({ name: 'log-format', aliases: ['logformat'], type: 'string', group: 'Logging', metavar: 'FORMAT',
    help: 'request log line with uWSGI\'s %(method) %(uri) %(status) %(msecs) %(addr) %(size) %(pid) %(wid) …', uwsgi: 'log-format: set advanced format for request logging' }),

  // Stats
  o({ name: 'stats', aliases: ['stats-server'], type: 'address', group: 'Stats', metavar: 'ADDR',
    help: 'serve uWSGI\'s JSON stats on ADDR (host:port or a UNIX path; keep it off public addresses); starts a master',
    uwsgi: 'stats: enable the stats server on the specified address' }),
  o({ name: 'stats-http', type: 'bool', group: 'Stats', default: false,
    help: 'answer HTTP on the stats address: the JSON at / (a live page for browsers), Prometheus text at /metrics', uwsgi: 'stats-http: prefix stats server json output with http headers' }),
  o({ name: 'stats-minified', aliases: ['stats-min'], type: 'bool', group: 'Stats', default: false,
    help: 'write the stats JSON on one line', uwsgi: 'stats-minified: minify statistics json output' }),
  o({ name: 'memory-report', type: 'bool', group: 'Stats', status: 'noop',
    why: 'tsgi always reports rss and vsz', help: 'accepted; memory is always reported', uwsgi: 'memory-report: enable memory report' }),

  // Config
  o({ name: 'ini', type: 'path', repeatable: true, group: 'Config', metavar: 'FILE[:SECTION]',
    help: 'read options from an ini file (section [uwsgi] unless FILE:SECTION); `tsgi FILE.ini` does the same', uwsgi: 'ini: load config from ini file' }),
  o({ name: 'json', aliases: ['js'], type: 'path', repeatable: true, group: 'Config', metavar: 'FILE[:SECTION]',
    help: 'read options from a JSON file ({"uwsgi": {…}}); `tsgi FILE.json` does the same', uwsgi: 'json: load config from json file' }),
  o({ name: 'inherit', type: 'path', repeatable: true, group: 'Config', metavar: 'FILE',
    help: 'in a config file: take another file\'s options as a base (this file overrides them)', uwsgi: 'inherit: use the specified file as config template' }),
  o({ name: 'set-placeholder', type: 'string', repeatable: true, group: 'Config', metavar: 'NAME=VALUE',
    help: 'set a %(NAME) placeholder for config files', uwsgi: 'set-placeholder: set a placeholder' }),
  o({ name: 'help', aliases: ['-h', 'usage'], type: 'bool', group: 'Config',
    help: 'show this help', uwsgi: 'help: show this help' }),
  o({ name: 'version', type: 'bool', group: 'Config',
    help: 'print the version and runtime', uwsgi: 'version: print uWSGI version' }),
];

const byName = new Map<string, OptionSpec>();
for (const spec of OPTIONS) {
  byName.set(spec.name, spec);
  for (const a of spec.aliases) byName.set(a.replace(/^-/, ''), spec);
}

/** Look an option up by any of its names (without dashes; `p` finds processes). */
export function findOption(name: string): OptionSpec | undefined {
  return byName.get(name);
}

/** Every name an option can be given by (for suggestions). */
export function allNames(): string[] {
  return OPTIONS.flatMap((s) => [s.name, ...s.aliases.filter((a) => !a.startsWith('-'))]);
}

/** camelCase field of TsgiOptions for an option name. */
export function fieldName(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The environment variable suffix: UWSGI_<X> / TSGI_<X>. */
export function envName(name: string): string {
  return name.toUpperCase().replaceAll('-', '_');
}
