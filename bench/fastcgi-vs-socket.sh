#!/usr/bin/env bash
# nginx → tsgi --socket (uwsgi_pass, a connection per request) against nginx → tsgi
# --fastcgi-socket (fastcgi_pass, fastcgi_keep_conn on, upstream keepalive 64), both over a UNIX
# socket, hello world, one tsgi process, on Node, Bun and Deno, measured one after the other.
#   bash bench/fastcgi-vs-socket.sh [seconds=10] [connections=64]
# Needs: nginx-light, wrk (apt-get install -y …); npm ci done.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONN=${2:-64}
PORT=${BENCH_PORT:-18080}
. bench/nginx.sh
# A second server on PORT+1 for FastCGI, then reload nginx.
FPORT=$((PORT + 1))
sed -i "s|^}\$|  upstream fcgi { server unix:$W/fcgi.sock; keepalive 64; }\n  server { listen 127.0.0.1:$FPORT; location / { include /etc/nginx/fastcgi_params; fastcgi_pass fcgi; fastcgi_keep_conn on; } }\n}|" "$W/nginx.conf"
kill -HUP "$(cat "$W/nginx.pid")"
sleep 1

measure() { # name, port, socket file, then the command
  local name=$1 port=$2 sock=$3; shift 3
  rm -f "$sock"
  "$@" >"$W/srv.log" 2>&1 &
  SRV=$!
  for _ in $(seq 1 200); do [ -S "$sock" ] && curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  wrk -t2 -c"$CONN" -d2s "http://127.0.0.1:$port/" >/dev/null # warm-up
  local out rps lat errs
  out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "http://127.0.0.1:$port/")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  lat=$(awk '/^ +99%/ {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  kill "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=
  printf '| %s | %s | %s | %s |\n' "$name" "$rps" "$lat" "${errs:-none}"
  echo "$rps" > "$W/rps-$name"
}

echo "nginx (1 worker) → one tsgi process over a UNIX socket, wrk -t2 -c$CONN -d${DUR}s, hello world"
echo
echo '| backend | req/s | p99 latency | errors |'
echo '|---|---|---|---|'
for rt in node bun deno; do
  case $rt in
    node) run=(node bin/tsgi.js) ;;
    bun) run=(node_modules/.bin/bun bin/tsgi.js) ;;
    deno) run=(node_modules/.bin/deno run -A bin/tsgi.js) ;;
  esac
  measure "$rt --socket" "$PORT" "$W/app.sock" "${run[@]}" --socket "$W/app.sock" --chmod-socket --app examples/hello.ts --disable-logging
  measure "$rt --fastcgi-socket" "$FPORT" "$W/fcgi.sock" "${run[@]}" --fastcgi-socket "$W/fcgi.sock" --chmod-socket --app examples/hello.ts --disable-logging
done
echo
for rt in node bun deno; do
  awk -v a="$(cat "$W/rps-$rt --fastcgi-socket")" -v b="$(cat "$W/rps-$rt --socket")" -v n="$rt" 'BEGIN { printf "%s: --fastcgi-socket / --socket = %.2f×\n", n, a / b }'
done
