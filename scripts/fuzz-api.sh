#!/usr/bin/env bash
# Property-based API fuzzing (schemathesis, PyPI) against a running `flightdeck serve`, from
# the OpenAPI document the node serves, with every check on: no 5xx, every response in its
# documented status, content type, headers and schema, schema-valid requests accepted and
# invalid ones refused, auth not ignored. Part of `make test`; needs target/debug/flightdeck
# and target/tools/venv (scripts/deps.sh). Extra `st run` flags go in FUZZ_ARGS.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FLIGHTDECK_BIN:-target/debug/flightdeck}
ST=target/tools/venv/bin/st
ARTIFACTS_DIR=${ARTIFACTS_DIR:-$PWD/target/test-artifacts}
mkdir -p "$ARTIFACTS_DIR"
tmp=$(mktemp -d)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ]; then kill -TERM "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

token="fuzz-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
# The file backend, so secrets can be written (env is read-only); no config file, so a reload
# is the documented 400.
env -u RUST_LOG $(env | awk -F= '/^FLIGHTDECK_/{print "-u " $1}') \
  FLIGHTDECK_API_TOKEN="$token" XDG_CONFIG_HOME="$tmp/cfg" \
  "$BIN" --data-dir "$tmp/node" --secrets file serve --listen 127.0.0.1:0 \
  >"$tmp/node.out" 2>"$ARTIFACTS_DIR/fuzz-node.log" &
node_pid=$!
for _ in $(seq 200); do grep -q 'listening on' "$tmp/node.out" && break; sleep 0.1; done
addr=$(sed -n 's/.*listening on http:\/\///p' "$tmp/node.out")
[ -n "$addr" ] || { echo "the node did not start:"; cat "$ARTIFACTS_DIR/fuzz-node.log"; exit 1; }

# Deterministic (a fixed seed) and bounded (examples per operation); the checks and the
# documented exceptions are in tests/api/schemathesis.toml.
"$ST" --no-color --config-file tests/api/schemathesis.toml run "http://$addr/api/v1/openapi.json" \
  -H "Authorization: Bearer $token" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "${FUZZ_EXAMPLES:-40}" \
  --seed 7 --generation-deterministic \
  --workers 1 \
  --request-timeout 10 \
  --report junit --report-dir "$ARTIFACTS_DIR/schemathesis" \
  ${FUZZ_ARGS:-}
