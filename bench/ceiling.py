"""The ceiling: a bare ASGI app answering a fixed JSON body, run by the same server
(`python -m awsmcp.serve ... bench.ceiling:app`).

It answers every HTTP request, and every WebSocket text frame, with the bytes of the file named by
BENCH_CEILING_BODY (the benchmark puts awsmcp's own answer there, so both sides send the same bytes).
The entry point gives it the same Daphne and Twisted adaptations as awsmcp (awsmcp.compat).
"""

import os
from pathlib import Path

_body_file = os.environ.get("BENCH_CEILING_BODY")
BODY = Path(_body_file).read_bytes() if _body_file else b'{"jsonrpc":"2.0","id":1,"result":{}}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] == "http":
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    elif scope["type"] == "websocket":
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept", "subprotocol": "mcp"})
            elif message["type"] == "websocket.receive":
                await send({"type": "websocket.send", "text": BODY.decode()})
            else:
                return
