"""Fixtures for the emulator's own tests: a started emulator and a small HTTP caller."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from sync.emulator import DEMO_TOKEN, Dataset, RunningEmulator


@dataclass
class Reply:
    status: int
    body: Any
    headers: Any


class Api:
    """Calls one emulator with a fixed ``user`` cookie (no cookie jar, no retries)."""

    def __init__(self, session: aiohttp.ClientSession, emu: RunningEmulator, token: str | None):
        self.session = session
        self.emu = emu
        self.token = token

    @property
    def store(self) -> Any:
        return self.emu.store

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        headers = kwargs.pop("headers", {})
        if self.token is not None:
            headers["Cookie"] = f"user={self.token}"
        url = self.emu.base_url + path
        async with self.session.request(method, url, headers=headers, **kwargs) as response:
            body = await response.json(content_type=None)
            return Reply(response.status, body, response.headers)

    async def get(self, path: str = "/product-processes", **params: str) -> Reply:
        return await self.call("GET", path, params=params)

    async def post(self, body: Any, path: str = "/product-processes") -> Reply:
        return await self.call("POST", path, json=body)

    async def put(self, body: Any) -> Reply:
        return await self.call("PUT", "/product-processes", json=body)

    async def delete(self, body: Any) -> Reply:
        return await self.call("DELETE", "/product-processes", json=body)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def api(emulator: Any, demo_dataset: Dataset, http: aiohttp.ClientSession) -> Api:
    """The demo data set (5 products x 3 lines) behind a default emulator, demo token set."""
    return Api(http, await emulator(dataset=demo_dataset), DEMO_TOKEN)


def first_free_line(store: Any, product_id: str) -> int:
    taken = {int(r["line_number"]) for r in store.lines() if r["product_id"] == product_id}
    return max(taken, default=0) + 1
