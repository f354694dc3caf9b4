#!/usr/bin/env node
// What the tests need on the machine, installed when missing: `npm ci` when node_modules is
// missing or does not match package-lock.json — the project's, and scripts/node-lines' (the Node
// binaries the suite runs on) — and the Debian packages of the programs the tests start (nginx,
// uWSGI, tmux, Chromium, ...). Plain node, no node_modules: `npm test` runs it first.
// `node scripts/deps.mjs --check` only says what is missing (exit 1 if anything is).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Debian package → a file it installs that the tests use. */
const PACKAGES = {
  'nginx-light': '/usr/sbin/nginx',
  systemd: '/usr/bin/systemd-socket-activate',
  tmux: '/usr/bin/tmux',
  uwsgi: '/usr/bin/uwsgi',
  'uwsgi-plugin-python3': '/usr/lib/uwsgi/plugins/python3_plugin.so',
  chromium: '/usr/bin/chromium',
  apache2: '/usr/sbin/apache2',
  openssl: '/usr/bin/openssl',
  curl: '/usr/bin/curl',
  // h2load, for bench/https.sh
  'nghttp2-client': '/usr/bin/h2load',
  python3: '/usr/bin/python3',
  'python3-yaml': '/usr/lib/python3/dist-packages/yaml/__init__.py',
  iproute2: '/usr/sbin/ip',
};

export function missingPackages() {
  return Object.entries(PACKAGES)
    .filter(([, file]) => !existsSync(file))
    .map(([pkg]) => pkg);
}

/** The npm packages `npm ci` installs: the project, and the Node lines the suite runs on. */
export const NPM_PACKAGES = [root, join(root, 'scripts', 'node-lines')];

/** Where scripts/node-lines installs Node `major` (scripts/test-all.mjs runs the tests on it). */
export function nodeLine(major) {
  return join(root, 'scripts', 'node-lines', 'node_modules', `node${major}`, 'bin', 'node');
}

/** Why dir/node_modules needs `npm ci`, or null when it matches dir/package-lock.json. */
export function nodeModulesStale(dir = root) {
  const where = dir === root ? 'node_modules' : `${dir.slice(root.length)}/node_modules`;
  const installed = join(dir, 'node_modules', '.package-lock.json');
  if (!existsSync(installed)) return `${where} is missing`;
  const lockFile = join(dir, 'package-lock.json');
  if (statSync(installed).mtimeMs >= statSync(lockFile).mtimeMs) return null;
  // Older than the lock (a fresh checkout of the lock is newer too): stale only if the packages
  // differ. Optional packages of other platforms are in the lock but never installed.
  const want = JSON.parse(readFileSync(lockFile, 'utf8')).packages;
  const have = JSON.parse(readFileSync(installed, 'utf8')).packages;
  for (const [name, p] of Object.entries(want)) {
    if (name === '' || (p.optional && !have[name])) continue;
    if (have[name]?.version !== p.version)
      return `${where} is older than package-lock.json (${name.replace(/^node_modules\//, '')} ${have[name]?.version ?? 'missing'}, lock says ${p.version})`;
  }
  for (const name of Object.keys(have)) if (!want[name]) return `${where} has ${name.replace(/^node_modules\//, '')}, which package-lock.json does not`;
  return null;
}

function sh(cmd, args, env = {}, cwd = root) {
  console.log(`deps: ${[cmd, ...args].join(' ')}${cwd === root ? '' : ` (in ${cwd.slice(root.length)})`}`);
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
}

/** Install what is missing (`system: false`: npm packages only); throws with the command to run when it cannot. */
export function ensureDeps({ check = false, system = true } = {}) {
  const pkgs = system ? missingPackages() : [];
  const aptLine = `apt-get update && apt-get install -y ${pkgs.join(' ')}`;
  if (pkgs.length > 0) {
    if (check) console.log(`deps: missing Debian packages: ${pkgs.join(' ')}`);
    else if (process.getuid?.() !== 0) throw new Error(`the tests need Debian packages that are missing; as root run:\n  ${aptLine}`);
    else if (!existsSync('/usr/bin/apt-get')) throw new Error(`the tests need these (Debian package names), and there is no apt-get: ${pkgs.join(' ')}`);
    else {
      const env = { DEBIAN_FRONTEND: 'noninteractive' };
      sh('apt-get', ['update', '-qq'], env);
      sh('apt-get', ['install', '-y', '-qq', ...pkgs], env);
    }
  }
  let stale = false;
  for (const dir of NPM_PACKAGES) {
    const why = nodeModulesStale(dir);
    if (!why) continue;
    stale = true;
    if (check) console.log(`deps: ${why}: npm ci needed`);
    else {
      console.log(`deps: ${why}`);
      sh('npm', ['ci', '--no-audit', '--no-fund'], {}, dir);
    }
  }
  return pkgs.length === 0 && !stale;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const check = process.argv.includes('--check');
  try {
    const ok = ensureDeps({ check });
    if (ok) console.log('deps: everything the tests need is installed');
    process.exit(check && !ok ? 1 : 0);
  } catch (e) {
    console.error(`deps: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
}
