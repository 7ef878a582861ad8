"""A local webhook receiver on loopback, for the notification tests.

    def test_x(webhook):
        hook = webhook(statuses=[500, 200])   # answers 500, then 200 for every later post
        ...  # hook.url, hook.posts (the JSON bodies received)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web


@dataclass
class Receiver:
    statuses: list[int]
    delay_s: float = 0.0
    posts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.posts.append(await request.json())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return web.Response(status=status, text="ok")


@pytest.fixture
def webhook() -> Iterator[Callable[..., Receiver]]:
    """Factory: a receiver served by aiohttp in a thread of its own (the CLI under test runs
    its own event loop)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    def start(statuses: list[int] | None = None, delay_s: float = 0.0) -> Receiver:
        receiver = Receiver(list(statuses or [200]), delay_s)
        app = web.Application()
        app.router.add_post("/hooks/T000/secret-path", receiver.handle)

        async def serve() -> int:
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            runners.append(runner)
            return site._server.sockets[0].getsockname()[1]

        port = asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
        receiver.url = f"http://127.0.0.1:{port}/hooks/T000/secret-path"
        return receiver

    yield start
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
