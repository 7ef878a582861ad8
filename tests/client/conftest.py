"""Fixtures for the client tests: a mocked server (aioresponses) for answer shapes that are
awkward to stage in the emulator, and a client pointed at it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses
from aioresponses import core as aioresponses_core

from sync.client import FlowtracClient
from sync.connection import Connection

TOKEN = "tok-Secret-7f3a9c"
PIN = "98127"
BASE = "https://acme.flowtrac.com/api"
LINES = re.compile(r"^https://acme\.flowtrac\.com/api/product-processes(\?.*)?$")
PRODUCTS = re.compile(r"^https://acme\.flowtrac\.com/api/products(\?.*)?$")
PROCESSES = re.compile(r"^https://acme\.flowtrac\.com/api/processes(\?.*)?$")
LOGIN = re.compile(r"^https://acme\.flowtrac\.com/api/device-login/$")


class _Response(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without aiohttp 3.14's ``stream_writer``."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class MockServer(aioresponses):
    def sent(self, method: str) -> list[Any]:
        """The calls made with ``method`` (each has .kwargs: params, data, headers)."""
        return [call for (m, _url), calls in self.requests.items() if m == method
                for call in calls]


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockServer]:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _Response)
    with MockServer() as mock:
        yield mock


class SleepRecorder:
    """Stands in for the client's sleep: records each wait and does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def client() -> AsyncIterator[FlowtracClient]:
    connection = Connection.from_options(company="acme", token=TOKEN, badge=None)
    async with FlowtracClient(connection, retries=3) as flowtrac:
        flowtrac._sleep = SleepRecorder()  # type: ignore[assignment]
        yield flowtrac


@pytest.fixture
async def login_client() -> AsyncIterator[FlowtracClient]:
    connection = Connection.from_options(company="acme", badge="1001", pin=PIN)
    async with FlowtracClient(connection, retries=3) as flowtrac:
        flowtrac._sleep = SleepRecorder()  # type: ignore[assignment]
        yield flowtrac
