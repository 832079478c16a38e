"""The webhook receiver of ``webhooks.py``: a bare ASGI app under uvicorn (uvloop + httptools), own process.

    python bench/webhook_receiver.py --port PORT

``POST /hook`` answers 200 at once and records (event id, event timestamp and ``data.name`` from the JSON
body, ``X-Brokkr-Delivery-Id``, arrival time as ``time.time()``). ``GET /records`` returns every record as JSON; ``POST /reset`` forgets them. Nothing
else happens per delivery, so the receiver is never what limits the broker.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import uvicorn

Scope = dict[str, Any]
Message = dict[str, Any]

records: list[tuple[str, str, float, str, str]] = []


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message: Message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Any, status: int, body: bytes, content_type: bytes = b"text/plain") -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = await _body(receive)
    path = scope["path"]
    if path == "/hook":
        arrived = time.time()
        delivery_id = next((v.decode() for k, v in scope["headers"] if k == b"x-brokkr-delivery-id"), "")
        try:
            event = json.loads(body)
            fields = (str(event["id"]), str(event["timestamp"]), str(event["data"].get("name", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            fields = ("", "", "")
        records.append((fields[0], delivery_id, arrived, fields[1], fields[2]))
        await _respond(send, 200, b"ok")
    elif path == "/records":
        await _respond(send, 200, json.dumps(records).encode(), b"application/json")
    elif path == "/reset":
        records.clear()
        await _respond(send, 204, b"")
    else:
        await _respond(send, 404, b"not found")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
