#!/usr/bin/env bash
# The --http router against uWSGI's router with keep-alive (issue #15), side by side in one run:
# tsgi --http with 2 workers on Node (the first `node` on PATH), Bun and Deno, and
# `uwsgi --http … --http-keepalive --master --processes 2`, hello world, wrk -t2 -c64 -d<seconds>s
# after a 2 s warm-up; RSS summed over all the processes of each. The rows and their tables come
# from bench/http-vs-bare.sh (its BENCH_ONLY selects them).
#   bash bench/router.sh [seconds=5] [runs=1]
#   PATH=$PWD/scripts/node-lines/node_modules/node24/bin:$PATH bash bench/router.sh 5 3   (Node 24)
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
RUNS=${2:-1}
for i in $(seq 1 "$RUNS"); do
  echo "## run $i of $RUNS"
  BENCH_ONLY='^(tsgi-http-(node|bun|deno)|uwsgi-http-ka)$' bash bench/http-vs-bare.sh "$DUR" 2
done
