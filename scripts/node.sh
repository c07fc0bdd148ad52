#!/usr/bin/env bash
# `make node`: build and start a headless node serving the API and the web dashboard on
# 127.0.0.1:7878 (the token: target/release/flightdeck token).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
npm --prefix ui run build
cargo build --release --locked -p flightdeck-node
exec target/release/flightdeck serve --ui-dir ui/dist "$@"
