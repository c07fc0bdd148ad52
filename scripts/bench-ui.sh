#!/usr/bin/env bash
# The UI over a big store (docs/benchmarks.md): 100,000 tasks and a task with 1,000 steps,
# made by the tasks_list bench (which prints its API figures), served by a release node, timed
# in Debian's chromium (scripts/bench-ui.mjs). Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
npm --prefix ui run build >/dev/null
cargo build --release --locked -p flightdeck-node
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
FLIGHTDECK_BENCH_KEEP=$tmp/data cargo bench --locked -p flightdeck-api --bench tasks_list | tee "$tmp/api.txt"
long=$(sed -n 's/.*the 1,000-step task is //p' "$tmp/api.txt")
token=bench-tasks-list-token-0123456789
FLIGHTDECK_API_TOKEN=$token target/release/flightdeck --data-dir "$tmp/data" --secrets env \
  serve --listen 127.0.0.1:0 --ui-dir ui/dist >"$tmp/node.out" 2>"$tmp/node.err" &
for _ in $(seq 100); do grep -q listening "$tmp/node.out" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on http:\/\///p' "$tmp/node.out")
node scripts/bench-ui.mjs "http://$addr" "$token" "$long"
