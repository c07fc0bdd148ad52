"""Fixtures for the SDK tests: the node under test, the scripted provider's control API and
the ledger. tests/sdk/run.sh starts both processes and sets FD_BASE, FD_TOKEN, FD_ADMIN and
SP_BASE."""

import json
import os
import time
import urllib.request
from decimal import Decimal

import pytest

FD_BASE = os.environ["FD_BASE"]
FD_TOKEN = os.environ["FD_TOKEN"]
FD_ADMIN = os.environ["FD_ADMIN"]
SP_BASE = os.environ["SP_BASE"]


def _request(method, url, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as res:
        text = res.read().decode()
        return json.loads(text) if text else None


class Provider:
    """The scripted provider's control API (tests/scripted-provider/README.md)."""

    def script(self, *steps, model=None):
        body = {"steps": list(steps)}
        if model:
            body["model"] = model
        _request("POST", f"{SP_BASE}/_script", body)

    def reset(self):
        _request("POST", f"{SP_BASE}/_reset", {})

    def calls(self):
        return _request("GET", f"{SP_BASE}/_calls")


class Ledger:
    """The node's usage ledger (`GET /api/v1/calls/{id}`); rows are written off the latency
    path, so a lookup waits (briefly) for the row to be committed."""

    def row(self, call_id, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                return _request("GET", f"{FD_BASE}/api/v1/calls/{call_id}", token=FD_ADMIN)
            except urllib.error.HTTPError as e:
                if e.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(0.05)

    def _top(self, **filters):
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        page = _request("GET", f"{FD_BASE}/api/v1/calls?limit=1&{query}", token=FD_ADMIN)
        return page["items"][0] if page["items"] else None

    def mark(self):
        """The newest row now: `after(mark)` then waits for a newer one."""
        top = self._top()
        return top["id"] if top else None

    def after(self, mark, timeout=10.0, **filters):
        """The newest row (matching `filters`) committed after `mark`."""
        deadline = time.monotonic() + timeout
        while True:
            top = self._top(**filters)
            if top and top["id"] != mark:
                return top
            if time.monotonic() > deadline:
                raise AssertionError(f"no ledger row after {mark} matching {filters}")
            time.sleep(0.05)


@pytest.fixture
def provider():
    p = Provider()
    p.reset()
    yield p
    p.reset()


@pytest.fixture
def ledger():
    return Ledger()


def per_million(tokens, price):
    return Decimal(tokens) * Decimal(str(price)) / Decimal(1_000_000)
