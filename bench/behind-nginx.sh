#!/usr/bin/env bash
# Which front door is fastest behind a web server (issue #12): one nginx (1 worker), hello world
# (examples/hello.ts, bench/hello.py, bench/http/*: the same body), wrk -t2 -c64, one backend at a
# time, each with 1 serving process and with 2:
#   uWSGI + Python  --socket        uwsgi_pass over a UNIX socket (nginx opens a connection per request)
#   tsgi            --socket        the same, on Node, Bun and Deno
#   tsgi            --scgi-socket   scgi_pass over a UNIX socket (a connection per request)
#   tsgi            --fastcgi-socket fastcgi_pass over a UNIX socket, fastcgi_keep_conn on + upstream keepalive
#   tsgi            --http-socket   proxy_pass to 127.0.0.1, HTTP/1.1 with upstream keepalive
#   bare runtime    bench/http/*    the same proxy_pass, no tsgi (node:cluster + node:http, Bun.serve, Deno.serve),
#                                   and again with a new connection per request (bare-close-*: what --socket pays)
# and prints one table with req/s and the ratios to uWSGI and to the bare runtime.
#   bash bench/behind-nginx.sh          DURATION=5 (s per row, after a 1 s warm-up)
# Env: DURATION, PROCS (default "1 2"), BENCH_ONLY (an extended regex over row ids such as
# scgi-socket-bun-2, socket-node-1, uwsgi-1, fastcgi-socket-deno-2, http-socket-node-1, bare-bun-2, bare-close-deno-1).
# A tree without --fastcgi-socket gets a note instead of those rows. About 6 minutes in all.
# Needs: nginx-light, wrk, uwsgi, uwsgi-plugin-python3; npm ci done.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DURATION:-5}
PROCS=${PROCS:-1 2}
ONLY=${BENCH_ONLY:-}
CONN=64
BUN=node_modules/.bin/bun
DENO=node_modules/.bin/deno
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PORT=$(free_port)    # nginx → uwsgi_pass
P_SCGI=$(free_port)  # nginx → scgi_pass
P_FCGI=$(free_port)  # nginx → fastcgi_pass, keep-alive
P_HTTP=$(free_port)  # nginx → proxy_pass, keep-alive
P_HTTPC=$(free_port) # nginx → proxy_pass, a new connection per request (as uwsgi_pass)
BACK=$(free_port)    # the HTTP backends' port
servers() {
  local sock="unix:$W/app.sock"
  cat <<SERVERS
  upstream fcgi { server $sock; keepalive 32; }
  upstream http_back { server 127.0.0.1:$BACK; keepalive 32; }
  server { listen 127.0.0.1:$PORT; location / { include /etc/nginx/uwsgi_params; uwsgi_pass $sock; } }
  server { listen 127.0.0.1:$P_SCGI; location / { include /etc/nginx/scgi_params; scgi_pass $sock; } }
  server { listen 127.0.0.1:$P_FCGI; location / { include /etc/nginx/fastcgi_params; fastcgi_pass fcgi; fastcgi_keep_conn on; } }
  server { listen 127.0.0.1:$P_HTTP; location / { proxy_pass http://http_back; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; } }
  server { listen 127.0.0.1:$P_HTTPC; location / { proxy_pass http://127.0.0.1:$BACK; proxy_set_header Host \$host; } }
SERVERS
}
NGINX_SERVERS=servers
. bench/nginx.sh
NOTES=$W/notes
touch "$NOTES"

# A backend in a session of its own: stopped with SIGINT (uWSGI's master takes SIGTERM as a reload;
# tsgi's launcher passes SIGINT on to its master), SIGKILL to its group after 10 s.
stop_backend() {
  kill -INT -- "-$SRV" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$SRV" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$SRV" 2>/dev/null || true
  wait "$SRV" 2>/dev/null || true
  SRV=
}

measure() { # id, front-door port, display name, runtime, processes, then the command
  local id=$1 port=$2 name=$3 rt=$4 p=$5; shift 5
  [ -n "$ONLY" ] && ! [[ $id =~ $ONLY ]] && return 0
  rm -f "$W/app.sock"
  setsid "$@" >"$W/$id.log" 2>&1 </dev/null &
  SRV=$!
  local up=
  for _ in $(seq 1 200); do
    if [ "$(curl -s -m 2 "http://127.0.0.1:$port/" 2>/dev/null)" = "Hello from tsgi: GET /" ]; then up=1; break; fi
    kill -0 "$SRV" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$up" ]; then
    stop_backend
    printf '| %s | %s | %s | did not answer | – | – |\n' "$name" "$rt" "$p"
    { echo "- $name ($rt, $p): no hello world through nginx within 20 s; its log ends:"; tail -n 5 "$W/$id.log" | sed 's/^/    /'; } >>"$NOTES"
    return 0
  fi
  wrk -t2 -c"$CONN" -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true # warm-up
  local out rps lat errs
  out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "http://127.0.0.1:$port/" 2>&1) || true
  stop_backend
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  lat=$(awk '/^ +99%/ {print $2}' <<<"$out")
  errs=$(awk '/Non-2xx|Socket errors/ {sub(/^ +/, ""); printf "%s; ", $0}' <<<"$out")
  printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$rt" "$p" "${rps:-wrk failed}" "${lat:-?}" "${errs:-none}"
  [ -n "$rps" ] && echo "$rps" >"$W/rps-$id"
  return 0
}

runtime_cmd() { # runtime → how to start bin/tsgi.js on it
  case $1 in
    node) echo node bin/tsgi.js ;;
    bun) echo "$BUN" bin/tsgi.js ;;
    deno) echo "$DENO" run -A bin/tsgi.js ;;
  esac
}
bare_cmd() { # runtime, processes → the bare server on $BACK
  case $1 in
    node) echo node bench/http/node-cluster.mjs "$BACK" "$2" ;;
    bun) echo "$BUN" bench/http/bun-serve.ts "$BACK" "$2" ;;
    deno) echo "$DENO" run -A --unstable-net bench/http/deno-serve.ts "$BACK" "$2" ;;
  esac
}
HAS_FCGI=
node bin/tsgi.js --help 2>/dev/null | grep -q -- '--fastcgi-socket' && HAS_FCGI=1
[ -z "$HAS_FCGI" ] && echo "- no --fastcgi-socket on this tree (\`tsgi --help\` does not list it): its rows are left out" >>"$NOTES"

echo "Behind one nginx ($(nginx -v 2>&1 | sed 's/.*\///'), 1 worker), hello world, wrk -t2 -c$CONN -d${DUR}s --latency after a 1 s warm-up, $(nproc) cores."
echo "Node $(node --version), Bun $($BUN --version), $($DENO --version | head -1), $(uwsgi --version | sed 's/^/uWSGI /'); $(git log -1 --format='tsgi %h')."
echo
echo '| behind nginx | runtime | processes | req/s | p99 latency | errors |'
echo '|---|---|---|---|---|---|'
for p in $PROCS; do
  master=(); [ "$p" -gt 1 ] && master=(--master)
  measure "uwsgi-$p" "$PORT" 'uWSGI + Python `--socket`, uwsgi_pass (UNIX)' python "$p" \
    uwsgi --plugin python3 --socket "$W/app.sock" --chmod-socket=666 --wsgi-file bench/hello.py --disable-logging --processes "$p" "${master[@]}"
  for rt in node bun deno; do
    # shellcheck disable=SC2207
    T=($(runtime_cmd "$rt"))
    A=(--app examples/hello.ts --disable-logging --processes "$p")
    measure "socket-$rt-$p" "$PORT" 'tsgi `--socket`, uwsgi_pass (UNIX)' "$rt" "$p" "${T[@]}" --socket "$W/app.sock" --chmod-socket "${A[@]}"
    measure "scgi-socket-$rt-$p" "$P_SCGI" 'tsgi `--scgi-socket`, scgi_pass (UNIX)' "$rt" "$p" "${T[@]}" --scgi-socket "$W/app.sock" --chmod-socket "${A[@]}"
    [ -n "$HAS_FCGI" ] && measure "fastcgi-socket-$rt-$p" "$P_FCGI" 'tsgi `--fastcgi-socket`, fastcgi_pass keep-alive (UNIX)' "$rt" "$p" \
      "${T[@]}" --fastcgi-socket "$W/app.sock" --chmod-socket "${A[@]}"
    measure "http-socket-$rt-$p" "$P_HTTP" 'tsgi `--http-socket`, proxy_pass keep-alive (TCP)' "$rt" "$p" "${T[@]}" --http-socket "127.0.0.1:$BACK" "${A[@]}"
    # shellcheck disable=SC2046
    measure "bare-$rt-$p" "$P_HTTP" 'bare runtime server, proxy_pass keep-alive (TCP)' "$rt" "$p" $(bare_cmd "$rt" "$p")
    # shellcheck disable=SC2046
    measure "bare-close-$rt-$p" "$P_HTTPC" 'bare runtime server, proxy_pass, a new connection per request (TCP)' "$rt" "$p" $(bare_cmd "$rt" "$p")
  done
done

ratio() { # numerator id, denominator id
  if [ -f "$W/rps-$1" ] && [ -f "$W/rps-$2" ]; then
    awk -v a="$(cat "$W/rps-$1")" -v b="$(cat "$W/rps-$2")" 'BEGIN { printf "%.2f×", a / b }'
  else
    printf 'n/a'
  fi
}
echo
echo '| tsgi | runtime | processes | ÷ uWSGI `--socket` | ÷ bare server, proxy_pass keep-alive | ÷ bare server, a new connection per request | ÷ tsgi `--socket` |'
echo '|---|---|---|---|---|---|---|'
for p in $PROCS; do
  for rt in node bun deno; do
    for door in socket scgi-socket fastcgi-socket http-socket; do
      [ -f "$W/rps-$door-$rt-$p" ] || continue
      printf '| `--%s` | %s | %s | %s | %s | %s | %s |\n' "$door" "$rt" "$p" "$(ratio "$door-$rt-$p" "uwsgi-$p")" "$(ratio "$door-$rt-$p" "bare-$rt-$p")" \
        "$(ratio "$door-$rt-$p" "bare-close-$rt-$p")" "$(ratio "$door-$rt-$p" "socket-$rt-$p")"
    done
  done
done
if [ -s "$NOTES" ]; then
  echo
  echo 'Notes:'
  echo
  cat "$NOTES"
fi
