#!/usr/bin/env bash
# The --http router against uWSGI's router with keep-alive (issue #15), side by side in one run:
# tsgi --http with 2 workers on Node (the first `node` on PATH), Bun and Deno, and
# `uwsgi --http … --http-keepalive --master --processes 2` (python3, bench/hello.py), hello world
# (examples/hello.ts), wrk -t2 -c64 -d<seconds>s after a 1 s warm-up, each backend in turn, the
# whole set <runs> times. Per row: req/s; the CPU time (user + system, from /proc) all the
# backend's processes spent per answered request, and the router's part of it — a figure that a
# loaded machine moves much less than req/s —; the RSS summed over its processes after the run.
#   bash bench/router.sh [seconds=5] [runs=1]
#   PATH=$PWD/scripts/node-lines/node_modules/node24/bin:$PATH bash bench/router.sh 5 3   (Node 24)
# Env: BENCH_BASE=DIR also runs the tsgi rows from another checkout (its bin/tsgi.js, with this
# tree's node_modules if it has none), labelled "base", before this tree's; BENCH_ONLY=regex
# over the row ids (tsgi-node tsgi-bun tsgi-deno tsgi-bun-reuse-port tsgi-deno-reuse-port, the same
# with base- for BENCH_BASE, uwsgi).
# Needs: wrk, curl, uwsgi + uwsgi-plugin-python3 (the http plugin ships with uwsgi); npm ci done.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
RUNS=${2:-1}
HERE=$PWD
BUN=$HERE/node_modules/.bin/bun
DENO=$HERE/node_modules/.bin/deno
ONLY=${BENCH_ONLY:-}
BASE=${BENCH_BASE:-}
HZ=$(getconf CLK_TCK)
PAGE_KIB=$(( $(getconf PAGESIZE) / 1024 ))
W=$(mktemp -d /tmp/tsgi-router-bench-XXXX)
ROOT_PID=

free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# "pid ticks rss_pages" of the backend: the process started, its descendants, and every process
# in a session one of them opened (tsgi's launcher starts its master in a session of its own).
members() {
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$ROOT_PID" '
    { s = $0; pid = $1; sub(/^.*\) /, "", s); split(s, f, " ")
      if (f[1] == "Z") next
      pp[pid] = f[2]; sid[pid] = f[4]; t[pid] = f[12] + f[13]; r[pid] = f[22] }
    END {
      if (!(root in pp)) exit
      in_[root] = 1; sids[sid[root]] = 1
      do { m = 0; for (p in pp) if (!(p in in_) && ((pp[p] in in_) || (sid[p] in sids))) { in_[p] = 1; sids[sid[p]] = 1; m = 1 } } while (m)
      for (p in in_) print p, t[p], r[p]
    }'
}

stop_backend() {
  local i p
  kill -INT -- "-$ROOT_PID" 2>/dev/null || true
  for i in $(seq 1 100); do [ -z "$(members)" ] && break; sleep 0.1; done
  for p in $(members | awk '{ print $1 }'); do kill -KILL "$p" 2>/dev/null || true; done
  ROOT_PID=
}

cleanup() {
  trap - EXIT INT TERM
  [ -n "$ROOT_PID" ] && stop_backend
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

measure() { # id, label, dir, then the command (PORT in its arguments is replaced by the port)
  local id=$1 label=$2 dir=$3; shift 3
  [ -n "$ONLY" ] && ! [[ $id =~ $ONLY ]] && return 0
  local port a
  port=$(free_port)
  local cmd=()
  for a in "$@"; do cmd+=("${a//PORT/$port}"); done
  (cd "$dir" && exec setsid "${cmd[@]}" >"$W/$id.log" 2>&1 </dev/null) &
  ROOT_PID=$!
  local i up=
  for i in $(seq 1 300); do
    if [ "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" 2>/dev/null || true)" = 200 ]; then up=1; break; fi
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "| $label | failed to start | – | – | – | – |"
    tail -n 5 "$W/$id.log" | sed 's/^/    /' >&2
    stop_backend
    return 0
  fi
  wrk -t2 -c64 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true
  members >"$W/before"
  local out
  out=$(wrk -t2 -c64 -d"${DUR}s" "http://127.0.0.1:$port/" 2>&1 || true)
  members >"$W/after"
  local reqs rps errs router cpu mine rss
  reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
  rps=$(echo "$out" | awk '/Requests\/sec/ { print $2 }')
  errs=$(echo "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ' | sed 's/ *$//' || true)
  router=$(grep -o 'spawned tsgi http router (pid: [0-9]*' "$W/$id.log" | grep -o '[0-9]*$' | tail -1 || true)
  cpu=$(awk -v hz="$HZ" -v n="$reqs" 'NR == FNR { a[$1] = $2; next } ($1 in a) { d += $2 - a[$1] } END { printf "%.0f", d / hz * 1e6 / n }' "$W/before" "$W/after")
  mine=$(awk -v hz="$HZ" -v n="$reqs" -v r="${router:-none}" 'NR == FNR { a[$1] = $2; next } ($1 == r && ($1 in a)) { printf "%.0f", ($2 - a[$1]) / hz * 1e6 / n }' "$W/before" "$W/after")
  rss=$(awk -v k="$PAGE_KIB" '{ t += $3 * k } END { printf "%.0f", t / 1024 }' "$W/after")
  echo "| $label | $rps | $cpu | ${mine:-–} | $rss | ${errs:-none} |"
  echo "$id $rps $cpu" >>"$W/results"
  stop_backend
}

TSGI_ARGS=(--http 127.0.0.1:PORT --processes 2 --app examples/hello.ts --disable-logging)
tsgi_rows() { # prefix (tsgi / base), label prefix, dir
  local id=$1 what=$2 dir=$3
  measure "$id-node" "$what on Node" "$dir" node bin/tsgi.js "${TSGI_ARGS[@]}"
  measure "$id-bun" "$what on Bun" "$dir" "$BUN" bin/tsgi.js "${TSGI_ARGS[@]}"
  measure "$id-deno" "$what on Deno" "$dir" "$DENO" run -A bin/tsgi.js "${TSGI_ARGS[@]}"
  # Bun.serve and Deno.serve take no inherited fd: by default their router runs tsgi's own
  # HTTP/1.1 server on the master's socket, with --reuse-port the runtime's server.
  measure "$id-bun-reuse-port" "$what --reuse-port on Bun" "$dir" "$BUN" bin/tsgi.js "${TSGI_ARGS[@]}" --reuse-port
  measure "$id-deno-reuse-port" "$what --reuse-port on Deno" "$dir" "$DENO" run -A bin/tsgi.js "${TSGI_ARGS[@]}" --reuse-port
}

echo "tsgi --http and uWSGI --http --http-keepalive, 2 workers each, hello world, wrk -t2 -c64 -d${DUR}s after a 1 s warm-up, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start."
echo "Node $(node --version), Bun $($BUN --version), $($DENO --version | head -1), $(uwsgi --version | sed 's/^/uWSGI /')."
for run in $(seq 1 "$RUNS"); do
  echo
  echo "Run $run of $RUNS:"
  echo
  echo "| backend | req/s | CPU µs / request (all processes) | of which the router | RSS MiB (all processes) | errors |"
  echo "|---|---|---|---|---|---|"
  [ -n "$BASE" ] && tsgi_rows base "tsgi --http (base: $BASE)" "$BASE"
  tsgi_rows tsgi "tsgi --http" "$HERE"
  measure uwsgi "uWSGI --http --http-keepalive" "$HERE" uwsgi --plugin python3,http --http 127.0.0.1:PORT --http-keepalive --master --processes 2 --wsgi-file bench/hello.py --disable-logging
done
echo
echo "Ratios to uWSGI in the same run (req/s; CPU per request: uWSGI's ÷ tsgi's, higher is better):"
echo
echo "| tsgi | req/s ÷ uWSGI (each run) | CPU efficiency ÷ uWSGI (each run) |"
echo "|---|---|---|"
for id in base-node base-bun base-deno base-bun-reuse-port base-deno-reuse-port tsgi-node tsgi-bun tsgi-deno tsgi-bun-reuse-port tsgi-deno-reuse-port; do
  grep -q "^$id " "$W/results" 2>/dev/null || continue
  awk -v id="$id" '
    $1 == "uwsgi" { u[++nu] = $2; uc[nu] = $3 }
    $1 == id { t[++nt] = $2; tc[nt] = $3 }
    END {
      for (i = 1; i <= nt; i++) { r = r sprintf("%s%.2f×", i > 1 ? " / " : "", (u[i] > 0 ? t[i] / u[i] : 0)); c = c sprintf("%s%.2f×", i > 1 ? " / " : "", (tc[i] > 0 ? uc[i] / tc[i] : 0)) }
      printf "| %s | %s | %s |\n", id, r, c
    }' "$W/results"
done
