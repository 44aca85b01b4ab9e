"""An emit for core tests that follow a stream (a listen stream, a call's in-call messages) message by message."""

from __future__ import annotations

import asyncio
from typing import Any


class Stream:
    """An emit that hands every message to the test as it comes."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.messages.put(message)

    async def next(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.messages.get(), 10)
