#!/usr/bin/env bash
# Whole-process figures (docs/benchmarks.md): node idle RSS, /api/v1/info throughput and
# latency at 32 connections (wrk), the LLM gateway's added latency over a direct call to the
# scripted provider (scripts/bench-gateway.sh, about 2 minutes; GATEWAY=0 skips it), desktop
# launch-to-first-paint and PSS after 60 s idle next to an empty Tauri 2 app built the same
# way. Release builds. Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
# A desktop session has a D-Bus session bus (the single-instance plugin uses it).
if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then exec dbus-run-session -- "$0" "$@"; fi
scripts/deps.sh test
command -v wrk >/dev/null || { sudo_=""; [ "$(id -u)" != 0 ] && sudo_=sudo; $sudo_ apt-get install -y -q --no-install-recommends wrk; }

# DESKTOP_ONLY=1: only the desktop windows, with the binaries already built (to repeat them).
if [ -z "${DESKTOP_ONLY:-}" ]; then
npm --prefix ui run build >/dev/null
cargo build --release --locked -p flightdeck-node -p flightdeck-desktop --features custom-protocol
CARGO_TARGET_DIR=$PWD/target cargo build --release --manifest-path benches/empty-tauri/Cargo.toml
fi

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r)"

# --- node: idle RSS and /api/v1/info under load
if [ -z "${DESKTOP_ONLY:-}" ]; then
token=bench-token-0123456789abcdef
FLIGHTDECK_API_TOKEN=$token target/release/flightdeck --data-dir "$tmp/node" --secrets env \
  serve --listen 127.0.0.1:0 >"$tmp/node.out" 2>"$tmp/node.err" &
node_pid=$!
for _ in $(seq 100); do grep -q listening "$tmp/node.out" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on http:\/\///p' "$tmp/node.out")
sleep 10
echo "node idle RSS after 10 s: $(awk '/VmRSS/{printf "%.1f MiB", $2/1024}' /proc/$node_pid/status)"
wrk -t2 -c32 -d15s --latency -H "Authorization: Bearer $token" "http://$addr/api/v1/info" | tee "$tmp/wrk.txt"
echo "node RSS after load: $(awk '/VmRSS/{printf "%.1f MiB", $2/1024}' /proc/$node_pid/status)"
kill -TERM $node_pid; wait $node_pid || true

# --- the LLM gateway against a direct call to the scripted provider (same node binary)
if [ "${GATEWAY:-1}" != 0 ]; then
  cargo build --release --locked -p flightdeck-scripted-provider
  NO_BUILD=1 scripts/bench-gateway.sh
fi
fi

# --- desktop windows under Xvfb
d=97; while [ -e "/tmp/.X11-unix/X$d" ]; do d=$((d+1)); done
Xvfb ":$d" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
export DISPLAY=":$d"; sleep 1

pss_tree() { # sum of PSS (kB) of a process and its descendants
  local pids; pids="$1 $(pgrep -d ' ' -P "$1" || true)"
  for c in $(pgrep -P "$1" || true); do pids="$pids $(pgrep -d ' ' -P "$c" || true)"; done
  local sum=0
  for p in $pids; do
    [ -r "/proc/$p/smaps_rollup" ] || continue
    sum=$((sum + $(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup")))
  done
  echo "$sum"
}

measure() { # name, binary, window title
  local name=$1 bin=$2 title=$3
  local blank; blank=$(import -window root -colorspace gray -format '%[fx:standard_deviation]' info:)
  local t0; t0=$(date +%s.%N)
  # Debug logs of the API crate: one "served" line per request the UI makes in-process.
  FLIGHTDECK_LOG__LEVEL="info,flightdeck_api=debug" FLIGHTDECK_LOG__FORMAT=text \
    FLIGHTDECK_DATA_DIR="$tmp/desktop" XDG_CONFIG_HOME="$tmp/cfg-$name" "$bin" >"$tmp/$name.log" 2>&1 &
  local pid=$!
  xdotool search --sync --onlyvisible --name "$title" >/dev/null
  local mapped; mapped=$(date +%s.%N)
  local painted=""
  for _ in $(seq 200); do
    sd=$(import -window root -colorspace gray -format '%[fx:standard_deviation]' info:)
    if awk -v a="$sd" -v b="$blank" 'BEGIN{exit !(a>b+0.02)}'; then painted=$(date +%s.%N); break; fi
    sleep 0.05
  done
  sleep 10
  local served0; served0=$(grep -c 'served' "$tmp/$name.log" || true)
  sleep 50
  local pss; pss=$(pss_tree "$pid")
  local served1; served1=$(grep -c 'served' "$tmp/$name.log" || true)
  printf '%-14s window mapped %.2f s, first paint %.2f s, PSS after 60 s idle %.1f MiB, API requests in the last 50 s of idle: %d\n' "$name" \
    "$(awk -v a="$mapped" -v b="$t0" "BEGIN{print a-b}")" "$(awk -v a="${painted:-$mapped}" -v b="$t0" "BEGIN{print a-b}")" "$(awk -v p="$pss" "BEGIN{print p/1024}")" \
    "$((served1 - served0))"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  sleep 1
}
if [ -n "${BEFORE_DESKTOP:-}" ]; then
  # Before/after in one run (BEFORE_DESKTOP=<an older flightdeck-desktop binary>),
  # alternated twice: the first window of a run pays for the keyring's first start.
  for round in 1 2; do
    measure "before-$round" "$BEFORE_DESKTOP" Flightdeck
    measure "after-$round" target/release/flightdeck-desktop Flightdeck
  done
else
  measure flightdeck target/release/flightdeck-desktop Flightdeck
fi
measure empty-tauri target/release/empty-tauri EmptyTauri

# --- the Agents & Tasks screen over 100,000 tasks and a 1,000-step task (UI=0 skips it)
if [ -z "${DESKTOP_ONLY:-}" ] && [ "${UI:-1}" != 0 ]; then
  scripts/bench-ui.sh
fi

# --- the queue's baseline: Celery + Redis next to the queue bench (CELERY=0 skips it)
if [ -z "${DESKTOP_ONLY:-}" ] && [ "${CELERY:-1}" != 0 ]; then
  scripts/bench-celery.sh
fi
