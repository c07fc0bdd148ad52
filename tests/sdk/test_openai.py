"""The official `openai` Python SDK against the gateway's /v1/chat/completions and
/v1/models: what a user's existing code does, unchanged but for base_url and api_key."""

import json
from decimal import Decimal

import openai
import pytest

from conftest import FD_BASE, FD_TOKEN, per_million


@pytest.fixture
def client():
    return openai.OpenAI(base_url=f"{FD_BASE}/v1", api_key=FD_TOKEN, max_retries=0)


def test_a_call_answers_and_is_in_the_ledger_exactly(client, provider, ledger):
    provider.script({"kind": "reply", "text": "Paris is the capital.",
                     "usage": {"input": 10, "output": 5, "cached_input": 3}})
    raw = client.chat.completions.with_raw_response.create(
        model="default", messages=[{"role": "user", "content": "Capital of France?"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "Paris is the capital."
    assert completion.choices[0].finish_reason == "stop"
    # OpenAI counts cached tokens inside prompt_tokens.
    assert completion.usage.prompt_tokens == 13
    assert completion.usage.completion_tokens == 5
    assert completion.usage.prompt_tokens_details.cached_tokens == 3
    assert raw.headers["x-flightdeck-provider"] == "scripted"
    assert raw.headers["x-flightdeck-model"] == "gpt-sdk"

    row = ledger.row(raw.headers["x-flightdeck-call-id"])
    assert row["client"] == "token:sdk"
    assert row["route"] == "default"
    assert (row["provider"], row["model"]) == ("scripted", "gpt-sdk")
    assert row["outcome"] == "ok"
    assert row["usage"]["input"] == 10
    assert row["usage"]["cached_input"] == 3
    assert row["usage"]["output"] == 5
    assert row["usage"]["estimated"] is False
    expected = per_million(10, 0.15) + per_million(3, 0.075) + per_million(5, 0.6)
    assert Decimal(row["cost"]) == expected
    # The key went upstream as the provider's auth header.
    assert provider.calls()["total"] == 1


def test_a_stream_arrives_in_chunks_with_usage_at_the_end(client, provider, ledger):
    mark = ledger.mark()
    provider.script({"kind": "reply", "text": "one two three four", "chunks": 4,
                     "chunk_delay_ms": 5, "usage": {"input": 7, "output": 4}})
    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "count"}],
        stream=True, stream_options={"include_usage": True})
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == "one two three four"
    assert len(pieces) >= 2, "the answer was not streamed in pieces"
    assert (usage.prompt_tokens, usage.completion_tokens) == (7, 4)
    row = ledger.after(mark, client="token:sdk")
    assert row["stream"] is True
    assert (row["usage"]["input"], row["usage"]["output"]) == (7, 4)
    assert Decimal(row["cost"]) == per_million(7, 0.15) + per_million(4, 0.6)


def test_tool_calls_come_back_as_tool_calls(client, provider):
    provider.script({"kind": "reply", "tool_calls": [
        {"id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}]})
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}]
    completion = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "Weather in Paris?"}],
        tools=tools, tool_choice="auto")
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.id == "call_1"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    # The tools reached the provider as the client sent them.
    sent = provider.calls()["recent"][-1]["body"]
    assert sent["tools"][0]["function"]["name"] == "get_weather"


def test_streamed_tool_calls_assemble(client, provider):
    provider.script({"kind": "reply", "tool_calls": [
        {"id": "call_9", "name": "lookup", "arguments": "{\"q\":\"flightdeck\"}"}]})
    stream = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "look it up"}],
        tools=[{"type": "function", "function": {"name": "lookup", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}}}}],
        stream=True)
    name, args = "", ""
    for chunk in stream:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            name += tc.function.name or ""
            args += tc.function.arguments or ""
    assert name == "lookup"
    assert json.loads(args) == {"q": "flightdeck"}


def test_structured_output_is_passed_to_the_provider(client, provider):
    provider.script({"kind": "reply", "text": "{\"answer\": 42}"})
    completion = client.chat.completions.create(
        model="default", messages=[{"role": "user", "content": "answer"}],
        response_format={"type": "json_schema", "json_schema": {
            "name": "answer", "schema": {"type": "object",
                                         "properties": {"answer": {"type": "integer"}}}}})
    assert json.loads(completion.choices[0].message.content) == {"answer": 42}
    sent = provider.calls()["recent"][-1]["body"]
    assert sent["response_format"]["type"] == "json_schema"


def test_models_lists_the_routes(client):
    ids = {m.id for m in client.models.list()}
    assert {"default", "claude", "fallback"} <= ids


def test_errors_raise_the_sdks_usual_exceptions_with_flightdecks_code(client, provider):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(
            model="no-such-route", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "unknown_model"
    assert "no-such-route" in e.value.message

    # A request the provider rejects is not retried and not taken by a fallback.
    provider.script({"kind": "status", "status": 400, "message": "bad parameter"})
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "provider_rejected"
    assert provider.calls()["total"] == 1

    bad = openai.OpenAI(base_url=f"{FD_BASE}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="default", messages=[{"role": "user", "content": "x"}])


def test_a_provider_down_falls_back_across_protocols(client, provider, ledger):
    # gpt-down answers 503 twice (both attempts); the Anthropic hop answers.
    provider.script({"kind": "status", "status": 503}, {"kind": "status", "status": 503},
                    model="gpt-down")
    raw = client.chat.completions.with_raw_response.create(
        model="fallback", messages=[{"role": "user", "content": "still there?"}])
    assert raw.parse().choices[0].message.content == "echo: still there?"
    assert raw.headers["x-flightdeck-provider"] == "scripted-anthropic"
    row = ledger.row(raw.headers["x-flightdeck-call-id"])
    hops = [(h["model"], h["outcome"]) for h in row["hops"]]
    assert hops[0][0] == "gpt-down" and hops[0][1] != "ok"
    assert hops[-1] == ("claude-sdk", "ok")
    assert provider.calls()["by_model"]["gpt-down"] == 2
