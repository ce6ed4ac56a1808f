#!/usr/bin/env bash
# redis-benchmark against slabcache's RESP port, then against redis-server (the peer) in the same
# run, and the ratio per test. Fails if redis-benchmark reports any error reply from slabcache,
# cannot connect, or does not finish every test. Installs redis-tools if redis-benchmark is missing.
#
# Usage: native-bench/load/redis-benchmark.sh [requests]   (default 100000)
# Environment: SLABCACHE_BENCH_PORT (default 16379), REDIS_PEER_PORT (default 16380),
#              BENCH_SHARDS (slabcache --shards, default: slabcache's own default)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REQUESTS=${1:-100000}
PORT=${SLABCACHE_BENCH_PORT:-16379}
PEER_PORT=${REDIS_PEER_PORT:-16380}
TESTS=set,get,incr,mset
PIPELINE=16

if ! command -v redis-benchmark >/dev/null 2>&1; then
  echo "redis-benchmark not found: installing redis-tools" >&2
  apt-get update
  apt-get install -y redis-tools
fi

echo "building slabcache" >&2
(cd "$ROOT" && npx tsc -p tsconfig.json)

PIDS=()
cleanup () { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# Waits until something answers PING on port $1 (10 s at most).
wait_for_port () {
  for _ in $(seq 1 100); do
    if redis-cli -p "$1" PING 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  echo "nothing answers PING on port $1" >&2
  return 1
}

# Runs the benchmark against port $1; prints "TEST rps" lines; fails on any error.
run_benchmark () {
  local raw status=0
  # redis-benchmark 7 stops at the first error reply ("Error from server: ...", exit status 1).
  raw=$(redis-benchmark -p "$1" -t "$TESTS" -P "$PIPELINE" -n "$REQUESTS" -q 2>&1) || status=$?
  # -q redraws a progress line with CR; keep the final line of each test.
  local lines
  lines=$(printf '%s\n' "$raw" | tr '\r' '\n' | grep -v '^ *$' | grep -v 'rps=' || true)
  printf '%s\n' "$lines" >&2
  if [ "$status" -ne 0 ] || printf '%s\n' "$lines" | grep -qiE 'error|could not connect|closed the connection'; then
    echo "redis-benchmark reported errors against port $1 (exit status $status)" >&2
    return 1
  fi
  local finished
  finished=$(printf '%s\n' "$lines" | grep -c 'requests per second' || true)
  if [ "$finished" -ne 4 ]; then
    echo "redis-benchmark finished $finished of 4 tests against port $1" >&2
    return 1
  fi
  printf '%s\n' "$lines" | sed -n 's/^\(.*\): \([0-9.]*\) requests per second.*/\1|\2/p'
}

echo "== slabcache (RESP on port $PORT) ==" >&2
node "$ROOT/dist/main.js" --resp-port "$PORT" --http-port 0 --memcache-port 0 --log-level warn \
  ${BENCH_SHARDS:+--shards "$BENCH_SHARDS"} &
PIDS+=($!)
wait_for_port "$PORT"
OURS=$(run_benchmark "$PORT")

PEER=""
if command -v redis-server >/dev/null 2>&1; then
  echo "== redis-server (port $PEER_PORT) ==" >&2
  redis-server --port "$PEER_PORT" --save '' --appendonly no --bind 127.0.0.1 --loglevel warning >/dev/null &
  PIDS+=($!)
  wait_for_port "$PEER_PORT"
  PEER=$(run_benchmark "$PEER_PORT")
else
  echo "redis-server not installed: no peer run (apt-get install -y redis-server)" >&2
fi

echo
printf '%-16s %14s %14s %8s\n' test slabcache redis-server ratio
while IFS='|' read -r name rps; do
  peer=$(printf '%s\n' "$PEER" | awk -F'|' -v n="$name" '$1 == n { print $2 }')
  if [ -n "$peer" ]; then
    printf '%-16s %14s %14s %8s\n' "$name" "$rps" "$peer" "$(awk -v a="$rps" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')"
  else
    printf '%-16s %14s %14s %8s\n' "$name" "$rps" - -
  fi
done <<< "$OURS"
echo "(requests per second, -P $PIPELINE, -n $REQUESTS; ratio = slabcache / redis-server)"
