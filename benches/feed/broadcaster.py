"""The feed benchmark's baseline: a Python `websockets` server that broadcasts a metrics
frame, shaped like the node's, to every connected client 10 times a second (serialized
once per event, sent with websockets.broadcast). Run by scripts/bench-feed.sh."""

import asyncio
import datetime
import json
import sys

import websockets

CLIENTS = set()


async def handler(ws):
    # The first message is the client's auth, as with the node.
    await ws.recv()
    await ws.send(json.dumps({"type": "welcome", "node_id": "python", "seq": 0,
                              "resumed": False, "resync": False}))
    CLIENTS.add(ws)
    try:
        await ws.wait_closed()
    finally:
        CLIENTS.discard(ws)


async def tick(interval):
    n = 0
    while True:
        await asyncio.sleep(interval)
        n += 1
        now = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
        frame = json.dumps({"type": "event", "seq": 0, "time": now, "topic": "metrics",
                            "payload": {"uptime_seconds": n}})
        websockets.broadcast(CLIENTS, frame)


async def main():
    port = int(sys.argv[1])
    async with websockets.serve(handler, "127.0.0.1", port, max_queue=None):
        print(f"broadcaster listening on {port}", flush=True)
        await tick(0.1)


asyncio.run(main())
