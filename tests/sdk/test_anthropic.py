"""The official `anthropic` Python SDK against the gateway's /v1/messages."""

from decimal import Decimal

import anthropic
import pytest

from conftest import FD_BASE, FD_TOKEN, per_million


@pytest.fixture
def client():
    # The SDK sends the key as x-api-key (or a bearer token): both are accepted.
    return anthropic.Anthropic(base_url=FD_BASE, api_key=FD_TOKEN, max_retries=0)


def test_a_message_answers_and_is_in_the_ledger_exactly(client, provider, ledger):
    provider.script({"kind": "reply", "text": "Bonjour.",
                     "usage": {"input": 20, "output": 3, "cached_input": 100, "cache_write": 50}})
    raw = client.messages.with_raw_response.create(
        model="claude", max_tokens=64, system="Be brief.",
        messages=[{"role": "user", "content": "Say hello in French"}])
    message = raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text == "Bonjour."
    assert message.stop_reason == "end_turn"
    # Anthropic counts cached tokens apart from input_tokens.
    assert message.usage.input_tokens == 20
    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.cache_creation_input_tokens == 50
    assert message.usage.output_tokens == 3
    row = ledger.row(raw.headers["x-flightdeck-call-id"])
    assert row["client"] == "token:sdk"
    assert row["protocol"] == "anthropic"
    u = row["usage"]
    assert (u["input"], u["cached_input"], u["cache_write"], u["output"]) == (20, 100, 50, 3)
    expected = (per_million(20, 1) + per_million(100, 0.1) + per_million(50, 1.25)
                + per_million(3, 5))
    assert Decimal(row["cost"]) == expected
    # The system prompt reached the provider as Anthropic's top-level `system`.
    assert provider.calls()["recent"][-1]["body"]["system"] in ("Be brief.",
                                                                [{"type": "text", "text": "Be brief."}])


def test_a_stream_yields_text_and_the_final_message(client, provider, ledger):
    mark = ledger.mark()
    provider.script({"kind": "reply", "text": "alpha beta gamma", "chunks": 3,
                     "chunk_delay_ms": 5, "usage": {"input": 9, "output": 3}})
    with client.messages.stream(model="claude", max_tokens=64,
                                messages=[{"role": "user", "content": "three words"}]) as s:
        pieces = list(s.text_stream)
        final = s.get_final_message()
    assert "".join(pieces) == "alpha beta gamma"
    assert len(pieces) >= 2
    assert final.usage.output_tokens == 3
    row = ledger.after(mark, client="token:sdk")
    assert row["stream"] is True
    assert (row["usage"]["input"], row["usage"]["output"]) == (9, 3)


def test_tool_use_comes_back_as_a_tool_use_block(client, provider):
    provider.script({"kind": "reply", "tool_calls": [
        {"id": "toolu_1", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}]})
    message = client.messages.create(
        model="claude", max_tokens=128,
        tools=[{"name": "get_weather", "description": "Weather in a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        messages=[{"role": "user", "content": "Weather in Oslo?"}])
    block = next(b for b in message.content if b.type == "tool_use")
    assert message.stop_reason == "tool_use"
    assert block.name == "get_weather"
    assert block.input == {"city": "Oslo"}


def test_an_openai_route_answers_in_anthropics_format(client, provider):
    # `default` is an OpenAI-protocol provider: translated both ways.
    message = client.messages.create(model="default", max_tokens=32,
                                     messages=[{"role": "user", "content": "translate me"}])
    assert message.content[0].text == "echo: translate me"
    assert provider.calls()["by_path"].get("/v1/chat/completions") == 1


def test_errors_raise_the_sdks_usual_exceptions(client, provider):
    with pytest.raises(anthropic.NotFoundError) as e:
        client.messages.create(model="nope", max_tokens=8,
                               messages=[{"role": "user", "content": "hi"}])
    assert e.value.body["error"]["type"] == "not_found_error"
    assert "nope" in e.value.body["error"]["message"]
    bad = anthropic.Anthropic(base_url=FD_BASE, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        bad.messages.create(model="claude", max_tokens=8,
                            messages=[{"role": "user", "content": "hi"}])
    # Provider overloaded on every attempt (529): the SDK's overloaded error, told not to
    # retry by x-should-retry: false only when the error is final.
    provider.script({"kind": "status", "status": 529}, {"kind": "status", "status": 529},
                    model="claude-sdk")
    with pytest.raises(anthropic.APIStatusError) as e:
        client.messages.create(model="claude", max_tokens=8,
                               messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code in (502, 503, 529)
    assert provider.calls()["by_model"]["claude-sdk"] == 2
