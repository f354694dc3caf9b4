#!/usr/bin/env bash
# WebSockets, side by side in one run, on each runtime: tsgi --http-socket (--master, one worker)
# and tsgi --http (the router in front of one worker), both with the portable upgradeWebSocket
# echo app bench/websocket/tsgi-app.ts, against the bare runtime's own WebSocket server (bench/websocket/{node-http,bun-serve,deno-serve}.ts: node:http + tsgi's codec,
# Bun.serve's websocket handlers, Deno.upgradeWebSocket). One client for all, on Node 24
# (bench/websocket-client.mjs, its global WebSocket):
#   - echo: messages per second, 64 connections, one 32-byte message in flight on each;
#   - idle: the server's RSS growth for 1000 open, idle WebSockets (KiB per 1000 sockets).
#   bash bench/websocket.sh [seconds=10] [rounds=3]
# Env: BENCH_ONLY (an extended regex over the row ids, e.g. 'bun'; ids: tsgi-http-socket-RT
# tsgi-router-RT bare-RT for RT in node bun deno). RSS counts every process of the row (tsgi:
# launcher, master, worker, router).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
ROUNDS=${2:-3}
ONLY=${BENCH_ONLY:-}
NODE=scripts/node-lines/node_modules/node24/bin/node
BUN=node_modules/.bin/bun
DENO=node_modules/.bin/deno
CLIENT="$NODE bench/websocket-client.mjs"
W=$(mktemp -d /tmp/tsgi-ws-bench-XXXX)
PID=

free_port() { $NODE -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start ID PORT CMD...: in a session of its own; waits (bounded) for the port.
start() {
  local id=$1 port=$2 i
  shift 2
  setsid "$@" >"$W/$id.log" 2>&1 &
  PID=$!
  disown "$PID" 2>/dev/null || true
  for i in $(seq 1 300); do port_open "$port" && return 0; sleep 0.1; done
  echo "$id did not start; its log:" >&2
  tail -20 "$W/$id.log" >&2
  return 1
}

stop() {
  local all
  all=$(pids)
  kill -INT -- "-$PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  # shellcheck disable=SC2086
  kill -KILL -- "-$PID" $all 2>/dev/null || true
  PID=
}
trap 'if [ -n "$PID" ]; then stop; fi; rm -rf "$W"' EXIT

# The command of each row, given its port.
cmd() {
  local id=$1 port=$2 app=(--app bench/websocket/tsgi-app.ts --disable-logging) rt
  rt=${id##*-}
  local run=$NODE
  [ "$rt" = bun ] && run=$BUN
  [ "$rt" = deno ] && run="$DENO run -A"
  case $id in
    tsgi-http-socket-*) echo "$run bin/tsgi.js --master --http-socket 127.0.0.1:$port ${app[*]}" ;;
    tsgi-router-*) echo "$run bin/tsgi.js --http 127.0.0.1:$port ${app[*]}" ;;
    bare-node) echo "$NODE bench/websocket/node-http.ts $port" ;;
    bare-bun) echo "$BUN bench/websocket/bun-serve.ts $port" ;;
    bare-deno) echo "$DENO run -A bench/websocket/deno-serve.ts $port" ;;
  esac
}

# The server's processes: the started one and all its descendants (tsgi's master runs in a
# session of its own, still a child of the launcher).
pids() {
  local all=$PID next=$PID kids
  while [ -n "$next" ]; do
    kids=$(for p in $next; do pgrep -P "$p" 2>/dev/null || true; done | tr '\n' ' ')
    all="$all $kids"
    next=$kids
    [ -z "${kids// /}" ] && break
  done
  echo "$all"
}

echo "# bench/websocket.sh: $(nproc) cores, $(uname -r); $(date -u +%FT%TZ)"
echo "# node $($NODE -v), bun $($BUN -v), deno $($DENO -v | head -1 | cut -d' ' -f2); echo for ${DUR} s × $ROUNDS rounds"
echo
echo "| row | round | echo msg/s (64 conns) | RSS KiB per 1000 idle sockets |"
echo "|---|---|---|---|"
for round in $(seq 1 "$ROUNDS"); do
  for id in {tsgi-http-socket,tsgi-router,bare}-{node,bun,deno}; do
    if [ -n "$ONLY" ] && ! [[ $id =~ $ONLY ]]; then continue; fi
    port=$(free_port)
    # shellcheck disable=SC2046
    if ! start "$id" "$port" $(cmd "$id" "$port"); then echo "| $id | $round | failed to start | |"; stop; continue; fi
    echo_out=$($CLIENT echo "ws://127.0.0.1:$port/" 64 "$DUR" 2>"$W/client.err" || echo '{}')
    stop
    # A fresh server for the idle run: the echo run's garbage must not count.
    # shellcheck disable=SC2046
    start "$id" "$port" $(cmd "$id" "$port")
    sleep 2
    # shellcheck disable=SC2046
    idle_out=$($CLIENT idle "ws://127.0.0.1:$port/" 1000 $(pids) 2>>"$W/client.err" || echo '{}')
    stop
    mps=$(echo "$echo_out" | sed -n 's/.*"mps":\([0-9]*\).*/\1/p')
    kib=$(echo "$idle_out" | sed -n 's/.*"kib":\(-\?[0-9]*\).*/\1/p')
    echo "| $id | $round | ${mps:-failed} | ${kib:-failed} |"
  done
done
if [ -s "$W/client.err" ]; then
  echo
  echo "client errors:"
  tail -5 "$W/client.err"
fi
