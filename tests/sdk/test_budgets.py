"""A blocking budget as the official SDKs see it: the call is refused before any provider is
contacted, as a 429 the SDKs raise at once (`x-should-retry: false`: no retries, even with
the SDK's default of 2), naming the budget; one ledger row per call."""

import anthropic
import openai
import pytest

from conftest import FD_BASE, FD_TOKEN, _request, FD_ADMIN


def capped_rows():
    page = _request("GET", f"{FD_BASE}/api/v1/calls?limit=500&route=capped", token=FD_ADMIN)
    return page["items"]


def wait_rows(n, timeout=10.0):
    import time
    deadline = time.monotonic() + timeout
    while True:
        rows = capped_rows()
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def test_openai_sdk_raises_a_quota_error_without_retrying(provider):
    before = len(capped_rows())
    client = openai.OpenAI(base_url=f"{FD_BASE}/v1", api_key=FD_TOKEN)  # default retries
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="capped", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 429
    assert e.value.code == "budget_exceeded"
    assert e.value.type == "insufficient_quota"
    assert "budget `sdk-capped`" in e.value.message
    assert e.value.response.headers["x-should-retry"] == "false"
    rows = wait_rows(before + 1)
    assert len(rows) == before + 1, "the SDK did not retry"
    assert rows[0]["error_code"] == "budget_exceeded"
    assert provider.calls()["total"] == 0


def test_anthropic_sdk_raises_a_rate_limit_error_without_retrying(provider):
    before = len(capped_rows())
    client = anthropic.Anthropic(base_url=FD_BASE, api_key=FD_TOKEN)  # default retries
    with pytest.raises(anthropic.RateLimitError) as e:
        client.messages.create(model="capped", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 429
    assert "[budget_exceeded]" in e.value.message and "sdk-capped" in e.value.message
    rows = wait_rows(before + 1)
    assert len(rows) == before + 1, "the SDK did not retry"
    assert provider.calls()["total"] == 0


def test_the_budget_shows_what_it_refused():
    b = _request("GET", f"{FD_BASE}/api/v1/budgets/sdk-capped", token=FD_ADMIN)
    assert b["spent"] == "0"
    assert b["reserved"] == "0"
    assert b["config"]["action"] == "block"
    assert any(f["kind"] == "blocked" for f in b["fired"])
