#!/usr/bin/env bash
# --master --processes 2 --threads 2 against --processes 4 (and 1×1 for scale), per runtime:
# nginx → tsgi --socket over a UNIX socket, hello world, wrk -t2 -c64, and the total RSS of every
# tsgi process (launcher, master, workers) under load. One run, side by side.
#   bash bench/master-shapes.sh [seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
PORT=${BENCH_PORT:-18180}
. bench/nginx.sh
# Sum of RSS (KiB) of a process and all its descendants.
tree_rss() { local total=0 p; for p in $(pstree -p -T "$1" | grep -o '([0-9]\+)' | tr -d '()'); do total=$((total + $(awk '/VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || echo 0))); done; echo $total; }
measure() { # label, processes, threads, command…
  local label=$1 procs=$2 threads=$3; shift 3
  rm -f "$W/app.sock"
  "$@" --master --processes "$procs" --threads "$threads" --socket "$W/app.sock" --chmod-socket --app examples/hello.ts --disable-logging >"$W/srv.log" 2>&1 &
  SRV=$!
  for _ in $(seq 1 300); do grep -q 'tsgi is ready' "$W/srv.log" && break; sleep 0.1; done
  wrk -t2 -c64 -d2s "http://127.0.0.1:$PORT/" >/dev/null
  wrk -t2 -c64 -d"${DUR}s" "http://127.0.0.1:$PORT/" > "$W/wrk.out" &
  local wp=$!; sleep $((DUR / 2)); local rss; rss=$(tree_rss "$SRV"); wait $wp
  local rps errs; rps=$(awk '/Requests\/sec/ {print $2}' "$W/wrk.out"); errs=$(awk '/Non-2xx|Socket errors/' "$W/wrk.out" | tr '\n' ' ')
  kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=
  printf '| %s | %s×%s | %s | %s MiB | %s |\n' "$label" "$procs" "$threads" "$rps" "$((rss / 1024))" "${errs:-none}"
}
echo "nginx → tsgi --master over a UNIX socket, wrk -t2 -c64 -d${DUR}s, hello world, 2 cores"
echo
echo '| runtime | processes×threads | req/s | RSS of all tsgi processes | errors |'
echo '|---|---|---|---|---|'
for rt in node bun deno; do
  case $rt in
    node) cmd=(node bin/tsgi.js) ;;
    bun) cmd=(node_modules/.bin/bun bin/tsgi.js) ;;
    deno) cmd=(node_modules/.bin/deno run -A bin/tsgi.js) ;;
  esac
  measure "$rt" 1 1 "${cmd[@]}"
  measure "$rt" 2 2 "${cmd[@]}"
  measure "$rt" 4 1 "${cmd[@]}"
done
