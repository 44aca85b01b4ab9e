"""Screenshots of what an operator sees: the connections list and the docs cache page.

Starts the fixture origin and a Daphne on loopback, opens live MCP sessions, reads some pages,
logs in to the admin, then drives headless Chromium (Debian's `chromium`) over the DevTools
protocol to set the session cookie and capture PNGs into docs/screenshots/.

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.docs_proxy.test_cache import read  # noqa: E402
from tests.support.admin import logged_in  # noqa: E402
from tests.support.clients import open_session  # noqa: E402
from tests.support.origin import OriginServer  # noqa: E402
from tests.support.processes import daphne, free_port, wait_for_port  # noqa: E402
from tests.support.raw import LegacySse  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PAGES = [
    "/AmazonRDS/latest/UserGuide/Welcome.html",
    "/cli/latest/reference/s3/cp.html",
    "/solutions/latest/constructs/aws-lambda-sns.html",
]


class Browser:
    """Just enough of the DevTools protocol: cookies, navigation, screenshots."""

    def __init__(self) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if not binary:
            raise SystemExit("chromium is missing: apt-get install chromium")
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="awsmcp-chromium-")
        self.proc = subprocess.Popen(
            [
                binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={self.profile}", f"--remote-debugging-port={self.port}",
                "--window-size=1400,900", "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(self.port, proc=self.proc)
        self.ids = iter(range(1, 1_000_000))

    async def __aenter__(self) -> Browser:
        for _ in range(50):
            try:
                listing = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{self.port}/json")
                targets = listing.json()
                page = next(t for t in targets if t["type"] == "page")
                break
            except (httpx.HTTPError, StopIteration):
                await asyncio.sleep(0.1)
        self.ws = await connect(page["webSocketDebuggerUrl"], max_size=None)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)

    async def call(self, method: str, **params: object) -> dict:  # type: ignore[type-arg]
        ident = next(self.ids)
        await self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(await self.ws.recv())
            if message.get("id") == ident:
                return message.get("result", {})

    async def shoot(self, url: str, path: Path) -> None:
        await self.call("Page.enable")
        await self.call("Page.navigate", url=url)
        await asyncio.sleep(1.5)
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))
        print(f"wrote {path}")


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    origin = OriginServer().start()
    with daphne(**origin.settings_env(), OPS_ACTIVITY_FLUSH="0.5", DOCS_STATS_FLUSH="0.5") as server:
        admin = await logged_in(server)
        cookie = admin.cookies.get("sessionid")
        async with httpx.AsyncClient(timeout=15) as http, LegacySse(http, server.sse_url) as sse:
            await sse.initialize()
            async with (
                open_session(server, "streamable-http"),
                open_session(server, "websocket", query="partition=aws-cn"),
            ):
                for _ in range(3):
                    for path in PAGES:
                        await read(server, path, max_length=2000)
                await asyncio.sleep(1.5)
                async with Browser() as browser:
                    await browser.call("Network.enable")
                    await browser.call(
                        "Network.setCookie", name="sessionid", value=cookie, domain="127.0.0.1", path="/"
                    )
                    await browser.shoot(
                        f"{server.base}/admin/ops/connection/?state__exact=active", OUT / "connections.png"
                    )
                    await browser.shoot(f"{server.base}/admin/cache/", OUT / "cache.png")
        await admin.aclose()
    origin.stop()


if __name__ == "__main__":
    asyncio.run(main())
