#!/usr/bin/env bash
# A manual check, not part of `make test` (it installs a large package): Flightdeck's provider
# client against a real OpenAI-compatible server that no one here wrote and that installs
# offline from PyPI: the LiteLLM proxy (pinned below), serving a model with `mock_response`
# (it answers without calling anyone, with its own usage figures). Through the gateway: a
# whole answer, a stream with usage, an unknown model upstream; each ledger row is checked
# against what LiteLLM itself answered (tokens, cost = tokens × the configured price).
#
#   scripts/real-server-check.sh          # needs target/debug/flightdeck and tests/sdk's venv
set -euo pipefail
cd "$(dirname "$0")/.."
LITELLM_VERSION=1.106.12
BIN=${FLIGHTDECK_BIN:-$PWD/target/debug/flightdeck}
PY=target/tools/sdk-venv/bin/python
VENV=target/tools/litellm-venv
[ -x "$BIN" ] || { echo "missing $BIN (cargo build --workspace)" >&2; exit 1; }
[ -x "$PY" ] || { echo "missing $PY (scripts/deps.sh test)" >&2; exit 1; }
if ! "$VENV/bin/pip" show litellm 2>/dev/null | grep -qx "Version: $LITELLM_VERSION"; then
  echo "installing litellm[proxy]==$LITELLM_VERSION into $VENV"
  rm -rf "$VENV"; python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
fi
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

port=$(free_port)
KEY="sk-litellm-master-$RANDOM$RANDOM"
cat > "$tmp/litellm.yaml" <<YAML
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: not-used
      mock_response: "Hello from LiteLLM, a server no one here wrote."
YAML
LITELLM_MASTER_KEY=$KEY LITELLM_LOCAL_MODEL_COST_MAP=True \
  "$VENV/bin/litellm" --config "$tmp/litellm.yaml" --host 127.0.0.1 --port "$port" >"$tmp/litellm.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do curl -fs -o /dev/null "http://127.0.0.1:$port/health/liveliness" && break; sleep 0.5; done
curl -fs -o /dev/null "http://127.0.0.1:$port/health/liveliness" || { echo "LiteLLM did not start:"; tail -30 "$tmp/litellm.log"; exit 1; }
echo "LiteLLM $("$VENV/bin/pip" show litellm | sed -n 's/^Version: //p') listening on 127.0.0.1:$port"

cat > "$tmp/flightdeck.toml" <<TOML
[providers.litellm]
kind = "openai"
base_url = "http://127.0.0.1:$port/v1"
key = "provider:litellm"
local = false
[routes.real]
chain = ["litellm/mock-gpt"]
[prices."litellm/mock-gpt"]
input = 0.15
output = 0.6
TOML
ADMIN="admin-$RANDOM$RANDOM$RANDOM"
FLIGHTDECK_API_TOKEN=$ADMIN FLIGHTDECK_SECRET_PROVIDER_LITELLM=$KEY \
  "$BIN" --secrets env --data-dir "$tmp/data" --config "$tmp/flightdeck.toml" serve --listen 127.0.0.1:0 \
  >"$tmp/node.out" 2>"$tmp/node.err" &
pids+=($!)
for _ in $(seq 100); do grep -q "listening on" "$tmp/node.out" && break; sleep 0.1; done
node=$(sed -n 's/.*listening on http:\/\///p' "$tmp/node.out")
[ -n "$node" ] || { cat "$tmp/node.err"; exit 1; }

LITELLM="http://127.0.0.1:$port" LITELLM_KEY=$KEY NODE="http://$node" ADMIN=$ADMIN "$PY" - <<'PY'
import json, os, time, urllib.request
from decimal import Decimal
import openai

node, admin = os.environ["NODE"], os.environ["ADMIN"]
direct = openai.OpenAI(base_url=os.environ["LITELLM"] + "/v1", api_key=os.environ["LITELLM_KEY"])
gw = openai.OpenAI(base_url=node + "/v1", api_key=admin, max_retries=0)
msgs = [{"role": "user", "content": "Say hello."}]
failures = []

def row(call_id):
    for _ in range(100):
        try:
            req = urllib.request.Request(f"{node}/api/v1/calls/{call_id}", headers={"authorization": f"Bearer {admin}"})
            return json.load(urllib.request.urlopen(req))
        except urllib.error.HTTPError as e:
            if e.code != 404: raise
            time.sleep(0.05)
    raise RuntimeError("no ledger row")

def check(name, ok, detail):
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}")
    if not ok: failures.append(name)

def cost(u):
    return (Decimal(u["input"]) * Decimal("0.15") + Decimal(u["cached_input"]) * Decimal("0.15")
            + Decimal(u["output"]) * Decimal("0.6") + Decimal(u["reasoning"]) * Decimal("0.6")) / Decimal(10**6)

# Whole answer: what LiteLLM answers directly, then the same through Flightdeck.
ref = direct.chat.completions.create(model="mock-gpt", messages=msgs)
raw = gw.chat.completions.with_raw_response.create(model="real", messages=msgs)
got = raw.parse()
r = row(raw.headers["x-flightdeck-call-id"])
u = r["usage"]
check("whole answer", got.choices[0].message.content == ref.choices[0].message.content, repr(got.choices[0].message.content))
check("whole usage = LiteLLM's", (u["input"] + u["cached_input"], u["output"] + u["reasoning"], u["estimated"]) ==
      (got.usage.prompt_tokens, got.usage.completion_tokens, False),
      f"ledger input {u['input']} output {u['output']} estimated {u['estimated']}; LiteLLM prompt {got.usage.prompt_tokens} completion {got.usage.completion_tokens}")
check("whole cost exact", Decimal(r["cost"]) == cost(u), f"{r['cost']} USD")

# A stream with usage in its last chunk.
raw = gw.chat.completions.with_raw_response.create(model="real", messages=msgs, stream=True,
                                                   stream_options={"include_usage": True})
text, usage = "", None
for chunk in raw.parse():
    if chunk.choices and chunk.choices[0].delta.content: text += chunk.choices[0].delta.content
    if chunk.usage: usage = chunk.usage
r = row(raw.headers["x-flightdeck-call-id"])
u = r["usage"]
check("stream text", text == ref.choices[0].message.content, repr(text))
check("stream usage = LiteLLM's last chunk", usage is not None and (u["input"] + u["cached_input"], u["output"] + u["reasoning"], u["estimated"]) ==
      (usage.prompt_tokens, usage.completion_tokens, False),
      f"ledger input {u['input']} output {u['output']} estimated {u['estimated']}; LiteLLM {usage and (usage.prompt_tokens, usage.completion_tokens)}")
check("stream cost exact", Decimal(r["cost"]) == cost(u), f"{r['cost']} USD")

# LiteLLM refuses a model it does not serve: Flightdeck's error, in OpenAI's format.
try:
    gw.chat.completions.create(model="litellm/not-served", messages=msgs)
    check("unknown upstream model", False, "no error")
except openai.APIStatusError as e:
    check("unknown upstream model", e.code in ("provider_rejected", "provider_unavailable", "provider_bad_response"),
          f"HTTP {e.status_code} code {e.code}: {e.message[:120]}")
raise SystemExit(1 if failures else 0)
PY
