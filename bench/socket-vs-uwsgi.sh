#!/usr/bin/env bash
# nginx → tsgi --socket (UNIX socket) on Node, Bun and Deno, against nginx → uWSGI (python3),
# hello world, one serving process each, the same nginx, measured one after the other in one run.
#   bash bench/socket-vs-uwsgi.sh [seconds=10] [connections=64]
# Needs: nginx-light, wrk, uwsgi, uwsgi-plugin-python3 (apt-get install -y …); npm ci done.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONN=${2:-64}
PORT=${BENCH_PORT:-18080}
. bench/nginx.sh

wait_sock() { for _ in $(seq 1 200); do [ -S "$W/app.sock" ] && curl -sf "http://127.0.0.1:$PORT/" >/dev/null && return 0; sleep 0.1; done; echo "backend did not start" >&2; cat "$W/srv.log" >&2; return 1; }

measure() { # name, then the command
  local name=$1; shift
  rm -f "$W/app.sock"
  "$@" >"$W/srv.log" 2>&1 &
  SRV=$!
  wait_sock
  wrk -t2 -c"$CONN" -d2s "http://127.0.0.1:$PORT/" >/dev/null  # warm-up
  local out rps lat rss
  out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "http://127.0.0.1:$PORT/")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  lat=$(awk '/^ +99%/ {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$SRV/status" 2>/dev/null || echo '?')
  kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=
  printf '| %s | %s | %s | %s MiB | %s |\n' "$name" "$rps" "$lat" "$((rss / 1024))" "${errs:-none}"
  echo "$rps" > "$W/rps-$name"
}

echo "nginx → backend over a UNIX socket, wrk -t2 -c$CONN -d${DUR}s, hello world, one backend process"
echo
echo '| backend | req/s | p99 latency | backend RSS | errors |'
echo '|---|---|---|---|---|'
measure uwsgi uwsgi --plugin python3 --socket "$W/app.sock" --chmod-socket=666 --wsgi-file bench/hello.py --disable-logging
measure tsgi-node node bin/tsgi.js --socket "$W/app.sock" --chmod-socket --app examples/hello.ts --disable-logging
measure tsgi-bun node_modules/.bin/bun bin/tsgi.js --socket "$W/app.sock" --chmod-socket --app examples/hello.ts --disable-logging
measure tsgi-deno node_modules/.bin/deno run -A bin/tsgi.js --socket "$W/app.sock" --chmod-socket --app examples/hello.ts --disable-logging
echo
base=$(cat "$W/rps-uwsgi")
for n in node bun deno; do
  awk -v a="$(cat "$W/rps-tsgi-$n")" -v b="$base" -v n="$n" 'BEGIN { printf "tsgi on %s / uWSGI: %.2f×\n", n, a / b }'
done
