#!/usr/bin/env bash
# `make run`: install what is missing, build the UI and the desktop app (release), and open
# the window on the embedded default (SQLite in $XDG_DATA_HOME/flightdeck).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "flightdeck: no display (DISPLAY/WAYLAND_DISPLAY unset), so the desktop window cannot open here; for a headless node run: make node ARGS='--secrets file'" >&2
  exit 1
fi

scripts/deps.sh build
echo "==> building the UI"
npm --prefix ui run build
echo "==> building the desktop app (release; the first build takes several minutes)"
cargo build --release --locked -p flightdeck-desktop --features custom-protocol
exec target/release/flightdeck-desktop "$@"
