#!/usr/bin/env bash
# HTTP serving, side by side in one run: the bare HTTP server of each runtime (bench/http/*),
# tsgi --http-socket and tsgi --http on Node, Bun and Deno, and uWSGI --http-socket / --http
# (python3). Hello world everywhere (examples/hello.ts, bench/hello.py and the bare servers answer
# the same body and content-type). Each backend is started in a session of its own (setsid),
# checked, warmed up (wrk 2 s), measured (wrk -t2 -c64 -d<seconds>s --latency), then its whole
# process group (and whatever it started in groups of their own) is stopped, and its port must be
# closed before the next one starts. RSS is sampled from /proc every second during the measured run.
#   bash bench/http-vs-bare.sh [seconds=10] [processes=2]
# Env: BENCH_PORT (default: a free port picked at start), BENCH_ONLY (an extended regex: only the
# backends whose id matches, e.g. BENCH_ONLY='bare|uwsgi'; ids: bare-node bare-bun bare-deno
# tsgi-http-socket-{node,bun,deno} tsgi-http-socket-{bun,deno}-reuse-port tsgi-http-{node,bun,deno}
# tsgi-http-{bun,deno}-reuse-port uwsgi-http-socket uwsgi-http-socket-ka
# uwsgi-http uwsgi-http-ka).
# Needs: wrk, uwsgi, uwsgi-plugin-python3 (the http router plugin ships with uwsgi); npm ci done.
# A backend that does not answer within ~15 s (or exits) gets a "failed to start" row and the
# tail of its log below the tables; the run goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
P=${2:-2}
CONN=64
BUN=node_modules/.bin/bun
DENO=node_modules/.bin/deno
ONLY=${BENCH_ONLY:-}
PAGE_KIB=$(( $(getconf PAGESIZE) / 1024 ))
PORT=${BENCH_PORT:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
W=$(mktemp -d /tmp/tsgi-http-bench-XXXX)
PG=      # the backend's process group (setsid)
PGF=     # prefix of the files listing its process groups
SAMPLER= # the RSS sampler's pid
CUR=     # the backend's display name

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# The processes of a backend: its process group ($PG, from setsid), everything descended from
# it (tsgi's launcher starts its master detached, in a session and group of its own) and every
# process group seen among those (listed in $PGF*, so that a master orphaned by its launcher is
# still found). One /proc/*/stat snapshot, live (non-zombie) processes only; prints
# "pid pgid rss_pages" per member.
members() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pg="$PG" -v known="$(cat "$PGF"* 2>/dev/null)" '
    { s = $0; pid = $1; sub(/^.*\) /, "", s); split(s, f, " ")
      if (f[1] == "Z") next
      ppid[pid] = f[2]; grp[pid] = f[3]; rss[pid] = f[22] }
    END {
      g[pg] = 1; n = split(known, k, " "); for (i = 1; i <= n; i++) g[k[i]] = 1
      do {
        more = 0
        for (p in grp) if (!(p in in_) && ((grp[p] in g) || (ppid[p] in in_))) { in_[p] = 1; g[grp[p]] = 1; more = 1 }
      } while (more)
      for (p in in_) print p, grp[p], rss[p]
    }'
}
alive() { [ -n "$(members)" ]; }
rss_kib() { members | awk -v k="$PAGE_KIB" '{ t += $3 * k } END { print t + 0 }'; }
remember_pgids() { # [file=$PGF]: add the process groups of the backend's processes to it
  local f=${1:-$PGF} tmp=${1:-$PGF}.$BASHPID
  { cat "$f" 2>/dev/null || true; members | awk '{ print $2 }'; } | sort -u >"$tmp"
  mv -f "$tmp" "$f"
}

# SIGINT to the group first (uWSGI's master takes SIGTERM as "reload", SIGINT as "stop now"; the
# tsgi launcher forwards it to its master; the bare servers exit), SIGKILL to every process group
# of the backend after 5 s, then wait for the port to close.
stop_backend() {
  local i g
  remember_pgids
  kill -INT -- "-$PG" 2>/dev/null || true
  for i in $(seq 1 50); do alive || break; sleep 0.1; done
  if alive; then
    { echo "- $CUR: still running 5 s after SIGINT, sent SIGKILL; left were:"
      members | while read -r pid _ _; do echo "    $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-150)"; done; } >>"$W/notes"
    remember_pgids
    for g in $(cat "$PGF"* 2>/dev/null | sort -u); do kill -KILL -- "-$g" 2>/dev/null || true; done
    members | while read -r pid _ _; do kill -KILL "$pid" 2>/dev/null || true; done
    for i in $(seq 1 50); do alive || break; sleep 0.1; done
  fi
  PG=; rm -f "$PGF"*
  for i in $(seq 1 100); do port_open || return 0; sleep 0.1; done
  echo "- $CUR: port $PORT still open 10 s after the stop" >>"$W/notes"
}

cleanup() {
  trap - EXIT INT TERM
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2>/dev/null || true
  [ -n "$PG" ] && stop_backend 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if port_open; then echo "port $PORT is already in use (set BENCH_PORT)" >&2; exit 1; fi
touch "$W/notes"

# Wait (≤15 s) for the backend to answer GET / with a 200 (tsgi's --http router answers 502 until
# a worker is ready); fail early if all its processes are gone. A backend that answers, but never
# with a 200, is measured anyway after 15 s (with a note); one that never answers has failed.
wait_up() {
  local code= i
  for i in $(seq 1 150); do
    code=$(curl -s -m 2 -o "$W/body" -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null || true)
    [ "$code" = 200 ] && return 0
    alive || { echo "it exited"; return 1; }
    sleep 0.1
  done
  if [ -n "$code" ] && [ "$code" != 000 ]; then
    echo "- $CUR: still answered GET / with $code after 15 s; measured anyway" >>"$W/notes"
    return 0
  fi
  echo "no HTTP answer within 15 s"
  return 1
}

fail_row() { # name, slug, reason
  printf '| %s | %s | failed to start | – | – | – |\n' "$1" "$P"
  { echo "- $1 failed to start ($3); last lines of its log:"
    echo '  ```'
    tail -n 15 "$W/$2.log" | sed 's/^/  /'
    echo '  ```'; } >>"$W/notes"
}

measure() { # id, display name, then the command
  local slug=$1 name=$2; shift 2
  [ -n "$ONLY" ] && ! [[ $slug =~ $ONLY ]] && return 0
  CUR=$name
  PGF=$W/pgids-$slug
  setsid "$@" >"$W/$slug.log" 2>&1 </dev/null &
  PG=$!
  disown "$PG" 2>/dev/null || true # no "Killed" job report from bash if it needs a SIGKILL
  local why
  if ! why=$(wait_up); then
    stop_backend
    fail_row "$name" "$slug" "$why"
    return 0
  fi
  if [ "$(cat "$W/body")" != "Hello from tsgi: GET /" ]; then
    echo "- $name answered GET / with an unexpected body: $(head -c 200 "$W/body" | tr '\n' ' ')" >>"$W/notes"
  fi
  wrk -t2 -c"$CONN" -d2s "http://127.0.0.1:$PORT/" >/dev/null 2>&1 || true # warm-up
  # RSS: the largest sum over the backend's live processes (see members), sampled every second.
  echo '?' >"$W/rss"
  # It stops when $W/stop appears, so that none of its writes lands after the backend is stopped.
  rm -f "$W/stop"
  ( max=0
    while [ ! -e "$W/stop" ]; do
      remember_pgids "$PGF-sampler"
      r=$(rss_kib)
      if [ "$r" -gt "$max" ]; then max=$r; echo "$max" >"$W/rss"; fi
      sleep 1
    done ) &
  SAMPLER=$!
  local out rps lat rss non2xx sock
  out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "http://127.0.0.1:$PORT/" 2>&1) || true
  touch "$W/stop"; wait "$SAMPLER" 2>/dev/null || true; SAMPLER=
  stop_backend
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  lat=$(awk '/^ +99%/ {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  sock=$(awk -F'Socket errors: ' '/Socket errors/ {print $2}' <<<"$out")
  rss=$(cat "$W/rss")
  [ "$rss" != '?' ] && rss=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
  if [ -z "$rps" ]; then
    printf '| %s | %s | wrk failed | – | %s | – |\n' "$name" "$P" "$rss"
    { echo "- $name: wrk gave no figures:"; sed 's/^/    /' <<<"$out"; } >>"$W/notes"
    return 0
  fi
  printf '| %s | %s | %s | %s | %s | %s / %s |\n' "$name" "$P" "$rps" "${lat:-?}" "$rss" "${non2xx:-0}" "${sock:-0}"
  echo "$rps" >"$W/rps-$slug"
}

echo "HTTP straight from the backend (no proxy), hello world, $P serving processes each,"
echo "wrk -t2 -c$CONN -d${DUR}s --latency after a 2 s warm-up, 127.0.0.1:$PORT, $(nproc) cores."
echo "Node $(node --version), Bun $($BUN --version), $($DENO --version | head -1), $(uwsgi --version | sed 's/^/uWSGI /')."
echo
echo '| backend | processes | req/s | p99 latency | total RSS (MiB, all its processes) | errors (non-2xx / socket) |'
echo '|---|---|---|---|---|---|'
measure bare-node 'bare Node (node:cluster + node:http)' node bench/http/node-cluster.mjs "$PORT" "$P"
measure bare-bun 'bare Bun (Bun.serve, reusePort)' "$BUN" bench/http/bun-serve.ts "$PORT" "$P"
measure bare-deno 'bare Deno (Deno.serve, reusePort)' "$DENO" run -A --unstable-net bench/http/deno-serve.ts "$PORT" "$P"
TSGI_ARGS=(--processes "$P" --app examples/hello.ts --disable-logging)  # uWSGI runs with --disable-logging too
measure tsgi-http-socket-node 'tsgi --http-socket on Node' node bin/tsgi.js --http-socket "127.0.0.1:$PORT" "${TSGI_ARGS[@]}"
measure tsgi-http-socket-bun 'tsgi --http-socket on Bun' "$BUN" bin/tsgi.js --http-socket "127.0.0.1:$PORT" "${TSGI_ARGS[@]}"
measure tsgi-http-socket-deno 'tsgi --http-socket on Deno' "$DENO" run -A bin/tsgi.js --http-socket "127.0.0.1:$PORT" "${TSGI_ARGS[@]}"
measure tsgi-http-socket-bun-reuse-port 'tsgi --http-socket --reuse-port on Bun' "$BUN" bin/tsgi.js --http-socket "127.0.0.1:$PORT" --reuse-port "${TSGI_ARGS[@]}"
measure tsgi-http-socket-deno-reuse-port 'tsgi --http-socket --reuse-port on Deno' "$DENO" run -A bin/tsgi.js --http-socket "127.0.0.1:$PORT" --reuse-port "${TSGI_ARGS[@]}"
measure tsgi-http-node 'tsgi --http on Node' node bin/tsgi.js --http "127.0.0.1:$PORT" "${TSGI_ARGS[@]}"
measure tsgi-http-bun 'tsgi --http on Bun' "$BUN" bin/tsgi.js --http "127.0.0.1:$PORT" "${TSGI_ARGS[@]}"
measure tsgi-http-deno 'tsgi --http on Deno' "$DENO" run -A bin/tsgi.js --http "127.0.0.1:$PORT" "${TSGI_ARGS[@]}"
measure tsgi-http-bun-reuse-port 'tsgi --http --reuse-port on Bun' "$BUN" bin/tsgi.js --http "127.0.0.1:$PORT" --reuse-port "${TSGI_ARGS[@]}"
measure tsgi-http-deno-reuse-port 'tsgi --http --reuse-port on Deno' "$DENO" run -A bin/tsgi.js --http "127.0.0.1:$PORT" --reuse-port "${TSGI_ARGS[@]}"
UWSGI_ARGS=(--processes "$P" --wsgi-file bench/hello.py --disable-logging --master)
# --http-socket/--http11-socket are in uWSGI's core; --http is the router of the http plugin.
# Stock --http-socket and --http close the connection after every answer (wrk then counts a read
# error per request); tsgi keeps connections alive by default, so the keep-alive variants of
# uWSGI are measured too: --http11-socket, and --http with --http-keepalive.
measure uwsgi-http-socket 'uWSGI --http-socket' uwsgi --plugin python3 --http-socket "127.0.0.1:$PORT" "${UWSGI_ARGS[@]}"
measure uwsgi-http-socket-ka 'uWSGI --http11-socket (keep-alive)' uwsgi --plugin python3 --http11-socket "127.0.0.1:$PORT" "${UWSGI_ARGS[@]}"
measure uwsgi-http 'uWSGI --http' uwsgi --plugin python3,http --http "127.0.0.1:$PORT" "${UWSGI_ARGS[@]}"
measure uwsgi-http-ka 'uWSGI --http --http-keepalive' uwsgi --plugin python3,http --http "127.0.0.1:$PORT" --http-keepalive "${UWSGI_ARGS[@]}"

ratio() { # numerator slug, denominator slug
  if [ -f "$W/rps-$1" ] && [ -f "$W/rps-$2" ]; then
    awk -v a="$(cat "$W/rps-$1")" -v b="$(cat "$W/rps-$2")" 'BEGIN { printf "%.2f×", a / b }'
  else
    printf 'n/a'
  fi
}
echo
echo '| tsgi | ÷ bare server, same runtime | ÷ uWSGI, same mode | ÷ uWSGI, same mode, keep-alive |'
echo '|---|---|---|---|'
for mode in http-socket http; do
  for rt in node bun deno; do
    printf '| tsgi --%s on %s | %s | %s | %s |\n' "$mode" "${rt^}" "$(ratio "tsgi-$mode-$rt" "bare-$rt")" \
      "$(ratio "tsgi-$mode-$rt" "uwsgi-$mode")" "$(ratio "tsgi-$mode-$rt" "uwsgi-$mode-ka")"
  done
done
echo
echo '(uWSGI, same mode: --http-socket / --http as shipped; keep-alive: --http11-socket / --http --http-keepalive.)'
echo
echo '| tsgi on the master'"'"'s one socket (the default) | ÷ --reuse-port (Bun.serve / Deno.serve, SO_REUSEPORT) | --reuse-port ÷ bare server |'
echo '|---|---|---|'
for mode in http-socket http; do
  for rt in bun deno; do
    printf '| tsgi --%s on %s | %s | %s |\n' "$mode" "${rt^}" "$(ratio "tsgi-$mode-$rt" "tsgi-$mode-$rt-reuse-port")" "$(ratio "tsgi-$mode-$rt-reuse-port" "bare-$rt")"
  done
done
if [ -s "$W/notes" ]; then
  echo
  echo 'Notes:'
  echo
  cat "$W/notes"
fi
