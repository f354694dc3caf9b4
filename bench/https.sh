#!/usr/bin/env bash
# HTTPS, side by side in one run, per runtime (Node, Bun, Deno), hello world (examples/hello.ts and
# the bare servers answer the same body):
#   - tsgi --https (the router in front of P workers: TLS terminated by node:http2 in the router);
#   - tsgi --https-socket (P workers, each terminating TLS itself);
#   - nginx terminating TLS (listen ssl http2, keep-alive upstream) in front of tsgi --http-socket;
#   - the runtime's own TLS server, bare (bench/https/*: node:http2 on node:cluster, Bun.serve tls,
#     Deno.serve cert/key; P processes).
# And tsgi --http (the router without TLS, wrk only) to tell the router's hop from TLS's cost.
# Each is measured with wrk (HTTP/1.1: -t2 -c64 -d<seconds>s) and h2load (h2: -t2 -c16 -m10
# -D <seconds>), after a 2 s warm-up. A server that offers no h2 gets "no h2" (h2load negotiates
# nothing). The test certificate is made here with openssl (EC P-256).
#   bash bench/https.sh [seconds=10] [processes=2]
# Env: BENCH_ONLY (an extended regex over the row ids, e.g. 'node|nginx').
# Needs: wrk, h2load (Debian's nghttp2-client), nginx, openssl; npm ci done.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
P=${2:-2}
BUN=node_modules/.bin/bun
DENO=node_modules/.bin/deno
NODE=${NODE:-node}
ONLY=${BENCH_ONLY:-}
W=$(mktemp -d /tmp/tsgi-https-bench-XXXX)
free_port() { "$NODE" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
PORT=$(free_port)
BACK=$(free_port)
ROOTS=() # the pids started for the current row (each in a session of its own)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null
CERT=$W/cert.pem
KEY=$W/key.pem

# Every process under a pid (a tsgi launcher's master is in a process group of its own).
tree() { local p=$1 c; echo "$p"; for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done; }

start() { # then the command: started in a session of its own
  setsid "$@" >>"$W/log" 2>&1 </dev/null &
  ROOTS+=($!)
}

stop_all() {
  local pids=() r i
  for r in "${ROOTS[@]}"; do pids+=($(tree "$r")); done
  for r in "${ROOTS[@]}"; do kill -INT "$r" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    local alive=0
    for r in "${pids[@]}"; do kill -0 "$r" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for r in "${pids[@]}"; do kill -KILL "$r" 2>/dev/null || true; done
  ROOTS=()
}
trap 'stop_all; rm -rf "$W"' EXIT
trap 'exit 130' INT TERM

SCHEME=https
up() { # wait (≤30 s) for a 200 on $PORT
  local i
  for i in $(seq 1 300); do
    [ "$(curl -sk -m 2 -o /dev/null -w '%{http_code}' "$SCHEME://127.0.0.1:$PORT/" 2>/dev/null || true)" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

row() { # id, name, then the command(s) were started by the caller: measure and stop
  local id=$1 name=$2 w h2 rps h2rps
  if ! up; then
    printf '| %s | failed to start | – |\n' "$name"
    stop_all
    return 0
  fi
  wrk -t2 -c64 -d2s "$SCHEME://127.0.0.1:$PORT/" >/dev/null 2>&1 || true
  w=$(wrk -t2 -c64 -d"${DUR}s" "$SCHEME://127.0.0.1:$PORT/" 2>&1 || true)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$w")
  if [ "$SCHEME" = http ]; then h2rps='– (no TLS)'
  else
    h2=$(h2load -t2 -c16 -m10 --warm-up-time=2 -D "$DUR" "https://127.0.0.1:$PORT/" 2>&1 || true)
    if grep -q 'No protocol negotiated\|h2 is not supported' <<<"$h2"; then h2rps='no h2'
    else h2rps=$(awk '/^finished in/ {print $4}' <<<"$h2"); fi
  fi
  printf '| %s | %s | %s |\n' "$name" "${rps:-wrk failed}" "${h2rps:-h2load failed}"
  stop_all
}

want() { [ -z "$ONLY" ] || [[ $1 =~ $ONLY ]]; }

nginx_conf() { # the front of tsgi --http-socket on $BACK
  mkdir -p "$W/nginx"
  cat >"$W/nginx/nginx.conf" <<EOF
worker_processes $P;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/nginx;
  proxy_temp_path $W/nginx;
  upstream tsgi { server 127.0.0.1:$BACK; keepalive 64; }
  server {
    listen 127.0.0.1:$PORT ssl http2;
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { proxy_pass http://tsgi; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host \$host; }
  }
}
EOF
}

TSGI=(--processes "$P" --app examples/hello.ts --disable-logging)
echo "HTTPS, hello world, $P serving processes each (nginx: $P workers), 127.0.0.1, $(nproc) cores."
echo "HTTP/1.1: wrk -t2 -c64 -d${DUR}s; h2: h2load -t2 -c16 -m10 -D $DUR; both after a 2 s warm-up. Figures are req/s."
echo "Node $("$NODE" --version), Bun $($BUN --version), $($DENO --version | head -1), $(nginx -v 2>&1)."
echo "Load average at the start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the cores)."
echo
echo '| server | HTTP/1.1 req/s (wrk) | h2 req/s (h2load) |'
echo '|---|---|---|'
nginx_conf
for rt in node bun deno; do
  case $rt in
    node) RUN=("$NODE") ;;
    bun) RUN=("$BUN") ;;
    deno) RUN=("$DENO" run -A) ;;
  esac
  if want "tsgi-http-$rt"; then
    # The router's hop without TLS, to tell the two costs apart.
    SCHEME=http
    start "${RUN[@]}" bin/tsgi.js --http "127.0.0.1:$PORT" "${TSGI[@]}"
    row "tsgi-http-$rt" "tsgi --http (router, plain HTTP) on $rt"
    SCHEME=https
  fi
  if want "tsgi-https-$rt"; then
    start "${RUN[@]}" bin/tsgi.js --https "127.0.0.1:$PORT,$CERT,$KEY" "${TSGI[@]}"
    row "tsgi-https-$rt" "tsgi --https (router) on $rt"
  fi
  if want "tsgi-https-socket-$rt"; then
    start "${RUN[@]}" bin/tsgi.js --https-socket "127.0.0.1:$PORT,$CERT,$KEY" "${TSGI[@]}"
    row "tsgi-https-socket-$rt" "tsgi --https-socket on $rt"
  fi
  if want "nginx-$rt"; then
    start "${RUN[@]}" bin/tsgi.js --http-socket "127.0.0.1:$BACK" "${TSGI[@]}"
    start nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log"
    row "nginx-$rt" "nginx (TLS) → tsgi --http-socket on $rt"
  fi
  if want "bare-$rt"; then
    case $rt in
      node) start "$NODE" bench/https/node-tls.mjs "$PORT" "$P" "$CERT" "$KEY" ;;
      bun) start "$BUN" bench/https/bun-tls.ts "$PORT" "$P" "$CERT" "$KEY" ;;
      deno) start "$DENO" run -A --unstable-net bench/https/deno-tls.ts "$PORT" "$P" "$CERT" "$KEY" ;;
    esac
    row "bare-$rt" "bare $rt TLS server ($(case $rt in node) echo 'node:http2 + node:cluster' ;; bun) echo 'Bun.serve tls' ;; deno) echo 'Deno.serve cert/key' ;; esac))"
  fi
done
