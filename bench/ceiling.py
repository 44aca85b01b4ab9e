"""The ceiling: a bare ASGI app answering a fixed JSON body, run by the same Daphne (`daphne bench.ceiling:app`)."""

BODY = b'{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ceiling"}]}}'


async def app(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})
