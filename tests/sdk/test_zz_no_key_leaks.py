"""After every other SDK test ran (file name sorts last): the provider key is in no answer of
the API, the metrics, the health report or the feed's whole event log. (run.sh then greps the
data directory and the node's logs.) The key is recognisable: FD_PROVIDER_KEY."""

import json
import os
import urllib.request

import openai
import pytest
from websockets.sync.client import connect

from conftest import FD_ADMIN, FD_BASE, FD_TOKEN

KEY = os.environ["FD_PROVIDER_KEY"]


def body(path, token=FD_ADMIN):
    req = urllib.request.Request(f"{FD_BASE}{path}")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as res:
        return res.read().decode()


def test_an_upstream_error_that_quotes_the_key_is_scrubbed(provider, ledger):
    # Real providers quote (part of) a wrong key back: "Incorrect API key provided: sk-...".
    provider.script({"kind": "status", "status": 401,
                     "message": f"Incorrect API key provided: {KEY}"})
    client = openai.OpenAI(base_url=f"{FD_BASE}/v1", api_key=FD_TOKEN, max_retries=0)
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="default",
                                       messages=[{"role": "user", "content": "x"}])
    assert e.value.code == "provider_auth_failed"
    assert KEY not in json.dumps(e.value.body)
    assert "scripted" in e.value.message, "the error names the provider"
    row = ledger.row(e.value.response.headers["x-flightdeck-call-id"])
    assert row["error_code"] == "provider_auth_failed"
    assert KEY not in json.dumps(row)


def test_the_key_is_in_no_api_answer_metric_or_health_report():
    for path in ["/api/v1/config", "/api/v1/info", "/api/v1/calls?limit=500", "/api/v1/gateway",
                 "/api/v1/secrets", "/api/v1/tokens", "/api/v1/health/transitions"]:
        text = body(path)
        assert KEY not in text, path
    for path in ["/metrics", "/health"]:
        assert KEY not in body(path, token=None), path
    assert "provider:scripted" in body("/api/v1/config"), "the config names the secret"


def test_the_key_is_in_no_feed_event():
    ws_url = FD_BASE.replace("http://", "ws://") + "/api/v1/feed"
    frames = []
    with connect(ws_url, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "auth", "token": FD_ADMIN, "resume_from": 0}))
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome", welcome
        last = welcome["seq"]
        # Every durable event since the node started, replayed from the log.
        while True:
            frame = ws.recv(timeout=10)
            msg = json.loads(frame)
            if msg["type"] != "event":
                continue
            frames.append(frame)
            if msg["seq"] >= last:
                break
    topics = {json.loads(f)["topic"] for f in frames}
    assert "calls" in topics, topics
    assert len(frames) > 10
    for f in frames:
        assert KEY not in f
