#!/usr/bin/env bash
# `make test`: install what the tests need, then run every test: lints, Rust unit and
# integration tests (real SQLite, real keychain, real node over HTTP/WS, promtool), UI unit
# tests, the gateway under the official OpenAI/Anthropic SDKs and LangChain, browser e2e
# (Debian chromium), desktop e2e (real window under Xvfb via WebDriver).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
ARTIFACTS_DIR=${ARTIFACTS_DIR:-$PWD/target/test-artifacts}
export ARTIFACTS_DIR
# promtool and tauri-driver are installed into target/tools by scripts/deps.sh.
export PATH="$PWD/target/tools/bin:$PATH"
mkdir -p "$ARTIFACTS_DIR"
start=$(date +%s)
step() { printf '\n==> [%ss] %s\n' "$(( $(date +%s) - start ))" "$*"; }

# A cold run writes about 8 GB (target/, node_modules, the Python venvs); a disk that fills up
# fails the build far from its cause ("No space left on device" from rustc), so say it first.
# Incremental compilation only pays when the same crates are rebuilt many times; in a test run
# it doubles what the workspace crates write and slows a cold build, so it is off here.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
free_gb=$(( $(df -Pk . | awk 'NR==2 {print $4}') / 1024 / 1024 ))
echo "disk: ${free_gb} GB free here"
if [ "$free_gb" -lt 10 ] && [ ! -d target/debug ]; then
  echo "warning: a cold make test writes about 8 GB and only ${free_gb} GB are free" >&2
fi

step "dependencies"
scripts/deps.sh test

# One feature set everywhere so the build, clippy and tests share compiled dependencies.
FEATURES=(--workspace --features custom-protocol --locked)

step "UI: generated types current, typecheck, ESLint, unit tests, build"
# ui/src/generated/api.ts is openapi-typescript's output for docs/openapi.json (which the Rust
# test `bindings` checks against the handlers): `make bindings` regenerates both.
npm --prefix ui run check:api
npm --prefix ui run typecheck
npm --prefix ui run lint
npm --prefix ui test
npm --prefix ui run build

step "Rust: format and lints"
cargo fmt --all -- --check
cargo clippy "${FEATURES[@]}" --all-targets -- -D warnings

step "dependencies: licences, sources, duplicates (cargo deny, deny.toml)"
# Offline: advisories are NOT checked here (their database is a download this machine cannot
# make); duplicates are reported as warnings (the GUI stack has several majors of a few crates).
cargo deny --offline --log-level error check bans licenses sources
dups=$(cargo deny --offline check bans 2>&1 | grep -c 'warning\[duplicate\]' || true)
echo "cargo deny: licences and sources allowed, no wildcards; $dups crates in two versions (reported, see deny.toml); advisories not checked (offline)"

step "Rust: build"
cargo build "${FEATURES[@]}"

step "Rust: unit, integration and node end-to-end tests"
cargo test "${FEATURES[@]}"

step "API fuzzing (schemathesis against a running node, every check)"
scripts/fuzz-api.sh

step "gateway with real clients (official openai and anthropic Python SDKs, LangChain ChatOpenAI)"
tests/sdk/run.sh

step "browser end-to-end (headless chromium against flightdeck serve)"
FLIGHTDECK_BIN=$PWD/target/debug/flightdeck node --test --test-concurrency=1 tests/ui/*.test.mjs

step "desktop end-to-end (real window under Xvfb, WebDriver)"
tests/desktop/run.sh

step "done in $(( $(date +%s) - start ))s; target/ holds $(du -sh target 2>/dev/null | cut -f1), $(( $(df -Pk . | awk 'NR==2 {print $4}') / 1024 / 1024 )) GB free"
