#!/usr/bin/env bash
# The gateway with the clients users have: the official `openai` and `anthropic` Python SDKs
# and LangChain's ChatOpenAI, and the README's approvals example (a tool gated from elsewhere), (target/tools/sdk-venv, scripts/deps.sh test) against a running
# `flightdeck serve`, which routes to the scripted provider binary (the one test double); and
# `flightdeck report` mailing through a real SMTP server (aiosmtpd), its PDF rendered by poppler.
# Needs target/debug/{flightdeck,scripted-provider} (cargo build --workspace).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${FLIGHTDECK_BIN:-$PWD/target/debug/flightdeck}
SP=${SCRIPTED_PROVIDER_BIN:-$PWD/target/debug/scripted-provider}
PY=target/tools/sdk-venv/bin/python
for f in "$BIN" "$SP" "$PY"; do
  [ -x "$f" ] || { echo "missing $f (cargo build --workspace; scripts/deps.sh test)" >&2; exit 1; }
done
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A recognisable fake provider key: after the run it must appear nowhere but the env.
KEY="sk-fake-SDKCANARY-$(date +%s)"
ADMIN="sdk-admin-token-$RANDOM$RANDOM$RANDOM$RANDOM"

# Waits for "<prefix>http://ADDR" as the first matching line of $1 and prints ADDR.
addr_of() {
  local file=$1 prefix=$2 i
  for i in $(seq 1 300); do
    if grep -q "^${prefix}http://" "$file" 2>/dev/null; then
      grep -m1 "^${prefix}http://" "$file" | sed "s|^${prefix}http://||"
      return 0
    fi
    sleep 0.1
  done
  echo "no '${prefix}http://' line in $file:" >&2; cat "$file" >&2; return 1
}

"$SP" --listen 127.0.0.1:0 --require-key "$KEY" > "$tmp/sp.out" 2> "$tmp/sp.err" &
pids+=($!)
sp=$(addr_of "$tmp/sp.out" "listening on ")

mkdir -p "$tmp/data"
cat > "$tmp/flightdeck.toml" <<TOML
[providers.scripted]
kind = "openai"
base_url = "http://$sp/v1"
key = "provider:scripted"
retry = { max_attempts = 2, base_delay_ms = 1, max_delay_ms = 5 }

[providers.scripted-anthropic]
kind = "anthropic"
base_url = "http://$sp"
key = "provider:scripted"
retry = { max_attempts = 2, base_delay_ms = 1, max_delay_ms = 5 }

[routes.default]
chain = ["scripted/gpt-sdk"]

[routes.claude]
chain = ["scripted-anthropic/claude-sdk"]

[routes.fallback]
chain = ["scripted/gpt-down", "scripted-anthropic/claude-sdk"]

# A route whose calls a blocking budget refuses before they reach the provider.
[routes.capped]
chain = ["scripted/gpt-capped"]

[prices."scripted/gpt-capped"]
input = 1000
output = 1000

[budgets.sdk-capped]
limit_usd = "0.0001"
period = "monthly"
action = "block"
route = "capped"

[prices."scripted/gpt-sdk"]
input = 0.15
output = 0.6
cached_input = 0.075

[prices."scripted/gpt-down"]
input = 0.15
output = 0.6

[prices."scripted-anthropic/claude-sdk"]
input = 1
output = 5
cached_input = 0.1
cache_write = 1.25

# The README's approvals example (test_readme_approvals.py): a tool gated from elsewhere.
[actions.delete_file]
description = "Delete a file"
risk = "high"
executor = "external"
schema = { type = "object", properties = { path = { type = "string" } }, required = ["path"] }

[[policies]]
name = "nothing under /etc"
action = "delete_file"
when = 'path starts_with "/etc"'
decision = "deny"

[[policies]]
name = "deletes need a human"
action = "delete_file"
decision = "require_approval"
sla = "1h"
TOML

FLIGHTDECK_API_TOKEN=$ADMIN FLIGHTDECK_SECRET_PROVIDER_SCRIPTED=$KEY \
  "$BIN" --secrets env --data-dir "$tmp/data" --config "$tmp/flightdeck.toml" --log-format json \
  serve --listen 127.0.0.1:0 > "$tmp/node.out" 2> "$tmp/node.err" &
pids+=($!)
node=$(addr_of "$tmp/node.out" "flightdeck listening on ")

# A named token with scope operate: the SDKs' "API key", and the client on every call.
token=$(curl -fsS -X POST "http://$node/api/v1/tokens" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -d '{"name":"sdk","scope":"operate"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')

status=0
FD_BASE="http://$node" FD_TOKEN="$token" FD_ADMIN="$ADMIN" SP_BASE="http://$sp" FD_PROVIDER_KEY="$KEY" \
  "$PY" -m pytest -q -p no:cacheprovider tests/sdk "$@" || status=$?

# The key reached the provider (it answered) and nowhere else: not the data dir (database,
# WAL, journal), not the node's logs.
if grep -rl --binary-files=text "$KEY" "$tmp/data" "$tmp/node.out" "$tmp/node.err"; then
  echo "FAIL: the provider key was written to the files above" >&2
  status=1
fi
if [ -n "${ARTIFACTS_DIR:-}" ]; then cp "$tmp/node.err" "$ARTIFACTS_DIR/sdk-node.log" || true; fi
exit $status
