#!/usr/bin/env bash
# Stream-socket APIs side by side, one run: each runtime's native API and node:net on it.
#   bash bench/socket-api.sh [seconds=8]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
PORT=${BENCH_PORT:-18081}
run() { # label, then command
  local label=$1; shift
  "$@" 2>/dev/null & local pid=$!
  for _ in $(seq 1 100); do curl -s "http://127.0.0.1:$PORT/" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c64 -d2s "http://127.0.0.1:$PORT/" >/dev/null
  local rps; rps=$(wrk -t2 -c64 -d"${DUR}s" "http://127.0.0.1:$PORT/" | awk '/Requests\/sec/ {print $2}')
  kill $pid; wait $pid 2>/dev/null || true
  printf '| %s | %s |\n' "$label" "$rps"
}
echo "one fixed response per connection, then close; wrk -t2 -c64 -d${DUR}s"
echo
echo '| runtime and API | req/s |'
echo '|---|---|'
run 'node 20 — node:net' node --import tsx bench/socket-api.ts native $PORT
run 'bun — Bun.listen' node_modules/.bin/bun bench/socket-api.ts native $PORT
run 'bun — node:net' node_modules/.bin/bun bench/socket-api.ts node $PORT
run 'deno — Deno.listen' node_modules/.bin/deno run -A bench/socket-api.ts native $PORT
run 'deno — node:net' node_modules/.bin/deno run -A bench/socket-api.ts node $PORT
