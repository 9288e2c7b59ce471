"""A bare ASGI app for ``bench/stack_floor.py``: reads the body, parses the JSON, answers 202.

No framework at all: the floor of Python and uvicorn for this request.
"""

from __future__ import annotations

import json
import uuid
from typing import Any


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    data = json.loads(body)
    status = 202 if isinstance(data, dict) and data.get("message") else 400
    answer = json.dumps({"job_id": str(uuid.uuid4()), "status": "queued", "deduplicated": False}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})
