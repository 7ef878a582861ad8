"""Fixtures for the planners' page: the app on aiohttp's test server, talking over loopback to
an in-process emulator, and a small browser-like helper (cookies, CSRF tokens, forms).

    async def test_x(web):
        page = await web()                       # emulator with the demo data + the app
        await page.sign_in()
        plan_url = await page.upload(SAMPLE)     # -> "/plans/<id>"
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from sync.demo import SAMPLE_DIR, demo_dataset
from sync.emulator import EmulatorConfig, RunningEmulator
from sync.web import WebSettings, make_app
from sync.web.app import STATE, WebState

SAMPLE = SAMPLE_DIR / "routing.xlsx"
MESSY = SAMPLE_DIR / "routing_messy.xlsx"
#: Credentials no page may ever show: distinctive, so a search for them cannot hit by chance.
BADGE = "7001"
PIN = "pin-Zq81-secret"
TOKEN = "tok-Kx93-secret-Lm27"

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class WebPage:
    """A planner's browser, reduced to what the tests need; keeps every body it received."""

    client: TestClient
    emulator: RunningEmulator
    bodies: list[bytes] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    csrf: str = ""

    @property
    def state(self) -> WebState:
        return self.client.app[STATE]  # type: ignore[index]

    async def _keep(self, response: aiohttp.ClientResponse) -> aiohttp.ClientResponse:
        body = await response.read()
        self.bodies.append(body)
        self.headers.append(str(dict(response.headers)))
        match = _CSRF.search(body.decode("utf-8", "replace"))
        if match:
            self.csrf = match.group(1)
        return response

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self._keep(await self.client.get(path, **kwargs))

    async def post(self, path: str, data: Any = None, *, csrf: bool = True,
                   **kwargs: Any) -> aiohttp.ClientResponse:
        if isinstance(data, dict) and csrf:
            data = {"csrf": self.csrf, **data}
        return await self._keep(await self.client.post(path, data=data, **kwargs))

    async def sign_in(self, badge: str = BADGE, pin: str = PIN, *, token: str = ""
                      ) -> aiohttp.ClientResponse:
        if not self.csrf:
            await self.get("/")
        return await self.post("/signin", {"badge": badge, "pin": pin, "token": token})

    def form(self, path: Path | None, *, name: str | None = None, content: bytes | None = None,
             csrf: str | None = None, **fields: str) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("csrf", self.csrf if csrf is None else csrf)
        for key, value in fields.items():
            form.add_field(key, value)
        if path is not None or content is not None:
            data = content if content is not None else Path(path).read_bytes()  # type: ignore
            form.add_field("file", data, filename=name or Path(path).name,  # type: ignore
                           content_type="application/octet-stream")
        return form

    async def upload(self, path: Path | None = SAMPLE, **kwargs: Any) -> str:
        """Upload and follow to the plan page; the plan's path (asserts it was planned)."""
        response = await self.post("/upload", self.form(path, **kwargs))
        assert response.status == 200, (await response.text())[:2000]
        assert response.url.path.startswith("/plans/"), response.url
        return response.url.path

    async def apply(self, plan_path: str, confirm: str | None = None) -> aiohttp.ClientResponse:
        if confirm is None:
            page = await (await self.get(plan_path)).text()
            found = re.search(r'name="confirm" value="([^"]+)"', page)
            assert found, "the plan page offers no apply confirmation"
            confirm = found.group(1)
        return await self.post(f"{plan_path}/apply", {"confirm": confirm})

    async def wait_applied(self, plan_path: str, timeout_s: float = 20) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            progress = await (await self.get(f"{plan_path}/progress")).json()
            if progress["state"] == "applied":
                return progress
            assert asyncio.get_running_loop().time() < deadline, progress
            await asyncio.sleep(0.05)

    async def apply_and_wait(self, path: Path = SAMPLE) -> str:
        """Upload ``path``, apply its plan and wait until it is applied; the plan's path."""
        plan = await self.upload(path)
        await self.apply(plan)
        await self.wait_applied(plan)
        return plan

    def seen(self, text: str) -> bool:
        return any(text.encode() in body for body in self.bodies) or any(
            text in h for h in self.headers)


StartWeb = Callable[..., Awaitable[WebPage]]


@pytest.fixture
async def web(emulator, tmp_path) -> AsyncIterator[StartWeb]:
    """Factory: ``await web(config=EmulatorConfig(...), **WebSettings fields)`` -> WebPage.

    The emulator holds the demo data and accepts only BADGE/PIN and TOKEN."""
    async with AsyncExitStack() as stack:

        async def start(config: EmulatorConfig | None = None, **settings: Any) -> WebPage:
            config = replace(config or EmulatorConfig(), users={BADGE: PIN}, tokens={TOKEN})
            emu = await emulator(config=config, dataset=demo_dataset())
            base = WebSettings(base_url=emu.base_url, temp_parent=str(tmp_path),
                               data_dir=str(tmp_path / "data"))
            app = make_app(replace(base, **settings))
            client = await stack.enter_async_context(TestClient(TestServer(app,
                                                                           host="127.0.0.1")))
            return WebPage(client, emu)

        yield start
