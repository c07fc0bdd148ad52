"""The README's approvals example, run as it is printed: an agent elsewhere gates its own tool
through Flightdeck, waits (long poll) for a human's decision, and gets the approved (edited)
arguments or the rejection's reason."""

import json
import os
import pathlib
import re
import threading
import time
import urllib.request

import pytest

from conftest import FD_ADMIN, FD_BASE, FD_TOKEN, _request

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def readme_example():
    text = README.read_text()
    marker = "<!-- tested by tests/sdk/test_readme_approvals.py"
    start = text.index(marker)
    block = re.search(r"```python\n(.*?)```", text[start:], re.S)
    assert block, "the README's approvals example is gone"
    os.environ["FLIGHTDECK_URL"] = FD_BASE
    os.environ["FLIGHTDECK_TOKEN"] = FD_TOKEN
    namespace = {"__name__": "readme_example"}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    return namespace


def pending_for(path, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = _request("GET", f"{FD_BASE}/api/v1/approvals?status=pending&action=delete_file", token=FD_ADMIN)
        for r in page["items"]:
            if r["arguments"].get("path") == path:
                return r
        time.sleep(0.05)
    raise AssertionError(f"no pending request for {path}")


def decide(request_id, body):
    return _request("POST", f"{FD_BASE}/api/v1/approvals/{request_id}/decision", body, token=FD_ADMIN)


def run_tool(fn, *args):
    out = {}

    def target():
        try:
            out["result"] = fn(*args)
        except Exception as e:  # noqa: BLE001 - handed to the test
            out["error"] = e

    t = threading.Thread(target=target)
    t.start()
    return t, out


def test_an_approved_call_runs_with_the_arguments_the_human_approved(tmp_path):
    ex = readme_example()
    asked = tmp_path / "asked.txt"
    edited = tmp_path / "edited.txt"
    asked.write_text("keep me")
    edited.write_text("delete me")
    thread, out = run_tool(ex["delete_file"], str(asked))
    r = pending_for(str(asked))
    assert r["proposer"] == "token:sdk"
    assert r["rationale"] == "the user asked me to clean up"
    time.sleep(0.3)
    assert thread.is_alive(), "the tool waits for the decision"
    decided = decide(r["id"], {"decision": "approve", "arguments": {"path": str(edited)}})
    assert decided["status"] == "approved"
    thread.join(timeout=20)
    assert out.get("result") == f"deleted {edited}", out
    assert asked.exists() and not edited.exists()


def test_a_rejection_reaches_the_tool_as_an_error_with_the_reason(tmp_path):
    ex = readme_example()
    target = tmp_path / "precious.txt"
    target.write_text("x")
    thread, out = run_tool(ex["delete_file"], str(target))
    r = pending_for(str(target))
    decide(r["id"], {"decision": "reject", "reason": "that file is the only backup"})
    thread.join(timeout=20)
    assert isinstance(out.get("error"), PermissionError), out
    assert "that file is the only backup" in str(out["error"])
    assert target.exists()


def test_a_rule_that_denies_answers_at_once(tmp_path):
    ex = readme_example()
    with pytest.raises(PermissionError, match="denied"):
        ex["delete_file"]("/etc/passwd")
