#!/usr/bin/env bash
# The issue's baseline for the task queue (docs/benchmarks.md): Celery with Redis running
# no-op tasks on this machine, end to end (one producer, a prefork worker with one process
# per core), next to `cargo bench -p flightdeck-engine --bench queue`. Installs redis-server
# (apt) and celery (a venv under target/tools) when missing. Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null; then
  sudo_=""; [ "$(id -u)" != 0 ] && sudo_=sudo
  $sudo_ apt-get install -y -q --no-install-recommends redis-server
fi
venv=target/tools/celery-venv
[ -x "$venv/bin/celery" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q 'celery[redis]==5.*'; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
export BENCH_REDIS=redis://127.0.0.1:6399/0
# Two Redis setups: its defaults (snapshots now and then: a crash loses recent tasks), and an
# append-only file fsynced on every write (durable per task, as Flightdeck's queue is).
for mode in default durable; do
  flags=(--port 6399 --dir "$tmp")
  [ "$mode" = durable ] && flags+=(--appendonly yes --appendfsync always)
  redis-server "${flags[@]}" >"$tmp/redis.log" 2>&1 &
  redis_pid=$!
  sleep 0.5
  (cd benches/celery && exec "../../$venv/bin/celery" -A tasks worker --concurrency="$(nproc)" -P prefork --loglevel=warning) >"$tmp/worker.log" 2>&1 &
  worker_pid=$!
  sleep 3
  echo "redis: $mode"
  for n in 5000 20000; do (cd benches/celery && "../../$venv/bin/python" run.py "$n"); done
  kill -TERM "$worker_pid"; wait "$worker_pid" 2>/dev/null || true
  kill -TERM "$redis_pid"; wait "$redis_pid" 2>/dev/null || true
  rm -f "$tmp"/*.rdb "$tmp"/*.aof; rm -rf "$tmp/appendonlydir"
done
cd "$(git rev-parse --show-toplevel)"
echo "flightdeck (same machine, same run):"
cargo bench --locked -p flightdeck-engine --bench queue 2>/dev/null | grep -E "producers|enqueue-to-start"
