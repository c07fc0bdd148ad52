"""An agent framework that speaks the OpenAI API: LangChain's ChatOpenAI through the gateway."""

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from conftest import FD_BASE, FD_TOKEN


def test_chat_openai_invokes_and_streams_through_the_gateway(provider, ledger):
    llm = ChatOpenAI(model="default", base_url=f"{FD_BASE}/v1", api_key=FD_TOKEN,
                     max_retries=0, temperature=0)
    mark = ledger.mark()
    answer = llm.invoke([SystemMessage("You echo."), HumanMessage("hello langchain")])
    assert answer.content == "echo: hello langchain"
    assert answer.usage_metadata["input_tokens"] > 0
    row = ledger.after(mark, client="token:sdk")
    assert row["route"] == "default" and row["outcome"] == "ok"

    text = "".join(chunk.content for chunk in llm.stream("stream this please"))
    assert text == "echo: stream this please"
    assert provider.calls()["total"] == 2
