#!/bin/bash
# Where an --http router's CPU goes, per process: tsgi --http --processes 2 (examples/hello.ts) on
# one runtime, wrk -t2 -c64 -d5s twice after a 1 s warm-up, and for each run the req/s and the CPU
# time (utime + stime, /proc/PID/stat) per answered request of the router process and of the two
# workers together.   bash bench/router-split.sh node|bun|deno
set -eu
cd "$(dirname "$0")/.."
source bench/tsgi-command.sh "${1:-node}"
log=$(mktemp)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
"${TSGI[@]}" --http "127.0.0.1:$port" --processes 2 --app examples/hello.ts --disable-logging >"$log" 2>&1 &
launcher=$!
trap 'kill -TERM $launcher 2>/dev/null; wait $launcher 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 300); do grep -q "tsgi is ready" "$log" && break; sleep 0.1; done
router=$(grep -o "spawned tsgi http router (pid: [0-9]*" "$log" | grep -o "[0-9]*$" | head -1)
workers=$(grep -o "spawned tsgi worker [0-9]* (pid: [0-9]*" "$log" | grep -o "[0-9]*$" | tr '\n' ' ')
ticks() { local n=0 p; for p in "$@"; do n=$((n + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $n; }
hz=$(getconf CLK_TCK)
wrk -t2 -c64 -d1s "http://127.0.0.1:$port/" >/dev/null
for run in 1 2; do
  r0=$(ticks "$router"); w0=$(ticks $workers)
  out=$(wrk -t2 -c64 -d5s "http://127.0.0.1:$port/")
  r1=$(ticks "$router"); w1=$(ticks $workers)
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  echo "$1 run $run: $rps req/s; router $(((r1 - r0) * 1000000 / hz / n)) µs CPU/request ($(((r1 - r0) * 100 / hz / 5)) % of a core); workers $(((w1 - w0) * 1000000 / hz / n)) µs CPU/request"
done
