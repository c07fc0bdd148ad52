#!/usr/bin/env bash
# Feed fan-out benchmark: N subscribers (default 1000) on loopback, 10 events/s for SECS
# seconds (default 20): p50/p99 delivery latency, lost events, and the server's CPU and
# memory, for the node (metrics samples at 100 ms) and, in the same run with the same Rust
# client, a Python `websockets` broadcaster sending the same frames at the same rate.
# The client shares the machine's cores with the server, as a local dashboard would.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
SECS=${SECS:-20}
TOKEN=bench-feed-token-0123456789abcdef
ulimit -n 16384

cargo build --release --locked -p flightdeck-node --bin flightdeck --example feed_clients 2>&1 | tail -1
python3 -m pip install --quiet --disable-pip-version-check websockets

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)

measure() { # name pid url
  local name=$1 pid=$2 url=$3 t0 c0 out t1 c1
  t0=$(date +%s.%N); c0=$(ticks "$pid")
  out=$(target/release/examples/feed_clients "$url" "$TOKEN" "$N" "$SECS")
  t1=$(date +%s.%N); c1=$(ticks "$pid")
  local cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$hz" 'BEGIN {printf "%.0f", 100 * (b - a) / hz / (e - s)}')
  echo "$name: $out cpu=${cpu}% rss=$(rss_mib "$pid")MiB"
}

FLIGHTDECK_API_TOKEN=$TOKEN FLIGHTDECK_FEED__METRICS_INTERVAL_MS=100 RUST_LOG=warn \
  target/release/flightdeck --data-dir "$tmp/data" --secrets env serve --listen 127.0.0.1:0 \
  > "$tmp/node.out" 2> "$tmp/node.err" &
pids+=($!)
node_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/node.out" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on http:\/\///p' "$tmp/node.out")
measure "flightdeck feed" "$node_pid" "ws://$addr/api/v1/feed"
kill "$node_pid"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 benches/feed/broadcaster.py "$port" > "$tmp/py.out" 2>&1 &
pids+=($!)
py_pid=$!
for _ in $(seq 100); do grep -q "listening" "$tmp/py.out" && break; sleep 0.1; done
measure "python websockets" "$py_pid" "ws://127.0.0.1:$port"
