#!/bin/bash
# The router-to-worker protocol, measured (issue #15, item 2): the same stand-in router
# (bench/proto-router.mjs) in front of 2 tsgi workers, over kept UNIX connections speaking either
# uwsgi with TSGI_KEEP (the workers' internal socket of `tsgi --http`) or HTTP/1.1 (`tsgi
# --http-socket` on a UNIX socket under a master). wrk -t2 -c64 -d4s, the two alternately, ROUNDS
# times; per run the req/s and the CPU µs (utime + stime) per request of the workers together and
# of the stand-in router.     bash bench/router-choice.sh node|bun|deno [ROUNDS]
set -eu
cd "$(dirname "$0")/.."
USAGE_MORE='[ROUNDS]'
source bench/tsgi-command.sh "${1:-node}"
NODE=scripts/node-lines/node_modules/node24/bin/node
# Three free ports, taken before anything starts (one process: they differ).
read -r front p_uwsgi p_http < <($NODE -e "const n=require('net');const ss=[0,1,2].map(()=>n.createServer().listen(0,'127.0.0.1'));setTimeout(()=>{console.log(ss.map(s=>s.address().port).join(' '));ss.forEach(s=>s.close())},100)")
dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$dir"' EXIT
"${TSGI[@]}" --http "127.0.0.1:$front" --processes 2 --app examples/hello.ts --disable-logging >"$dir/uwsgi.log" 2>&1 &
pids+=($!)
"${TSGI[@]}" --http-socket "$dir/h.sock" --master --processes 2 --app examples/hello.ts --disable-logging >"$dir/http.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do grep -q "tsgi is ready" "$dir/uwsgi.log" && grep -q "tsgi is ready" "$dir/http.log" && break; sleep 0.1; done
internal=$(grep -o "internal) bound to UNIX address [^ ]*" "$dir/uwsgi.log" | awk '{print $NF}')
workers() { grep -o "spawned tsgi worker [0-9]* (pid: [0-9]*" "$1" | grep -o "[0-9]*$" | tr '\n' ' '; }
declare -A W R
declare -A P=([uwsgi]=$p_uwsgi [http]=$p_http)
W[uwsgi]=$(workers "$dir/uwsgi.log")
W[http]=$(workers "$dir/http.log")
for mode in uwsgi http; do
  sock=$internal
  [ "$mode" = http ] && sock=$dir/h.sock
  $NODE bench/proto-router.mjs "$sock" "${P[$mode]}" $mode &
  R[$mode]=$!
  pids+=($!)
done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:${P[uwsgi]}/" >/dev/null && curl -sf "http://127.0.0.1:${P[http]}/" >/dev/null && break; sleep 0.1; done
ticks() { local n=0 p; for p in "$@"; do n=$((n + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $n; }
hz=$(getconf CLK_TCK)
for round in $(seq "${2:-4}"); do
  for mode in uwsgi http; do
    w0=$(ticks ${W[$mode]}); r0=$(ticks "${R[$mode]}")
    out=$(wrk -t2 -c64 -d4s "http://127.0.0.1:${P[$mode]}/")
    w1=$(ticks ${W[$mode]}); r1=$(ticks "${R[$mode]}")
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$1 round $round $mode: $(echo "$out" | awk '/Requests\/sec/ {print $2}') req/s; workers $(((w1 - w0) * 1000000 / hz / n)) µs/request; router $(((r1 - r0) * 1000000 / hz / n)) µs/request"
  done
done
