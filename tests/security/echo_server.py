"""A Flowtrac look-alike whose error answers quote the request's credentials back, in every
encoding a real server, proxy or debug page has been seen to use.

The login sets two cookies: ``user``, whose value holds the PIN (so a PIN masked before the
cookie would break the cookie's mask), and ``csrftoken``, base64 with ``/`` and ``=`` (so it is
sent quoted and its URL-encoded form differs from it).  ``cookies`` keeps every value set.

What is quoted is the request's Cookie header, and for the login its form (badge and PIN).
Each answer that quotes picks the next of ``FORMATS`` in turn, so a run with a few failing
rows meets all of them.  Runs in a background thread with its own event loop."""

from __future__ import annotations

import base64
import html
import json
import secrets
import textwrap
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import quote, quote_plus

from aiohttp import web
from app_thread import AppThread

PIN = "7305918246"
PRODUCT = "a0000001-0000-4000-8000-000000000001"
PROCESS = "b0000001-0000-4000-8000-000000000001"


def _b64(prefix: str, quoted: str) -> str:
    return base64.b64encode(f"{prefix}{quoted}".encode()).decode()


#: How an answer quotes the credentials: name -> (content type, body from the quoted text).
FORMATS: dict[str, tuple[str, Any]] = {
    "html": ("text/html", lambda q: f"<html><head><title>Error: {html.escape(q)}</title>"
                                    f"</head><body><p>Your headers: Cookie: {html.escape(q)}"
                                    f"</p></body></html>"),
    "html_split": ("text/html", lambda q: "<html><body><pre>" + "<br>".join(
        html.escape(q[i:i + 11]) for i in range(0, len(q), 11)) + "</pre></body></html>"),
    "json_message": ("application/json", lambda q: json.dumps(
        {"error": f"bad request with headers {{'Cookie': {q!r}}}"})),
    "json_nested": ("application/json", lambda q: json.dumps(
        {"request": {"headers": {"Cookie": q}}})),
    "json_in_text": ("text/plain", lambda q: "debug=" + json.dumps(
        {"cookie": q}).replace("/", "\\/")),             # as PHP writes JSON
    "text": ("text/plain", lambda q: f"Forbidden. Cookie: {q}"),
    # The middle of the quote where the client cuts the server's words (MAX_WORDS).
    "text_at_the_cut": ("text/plain", lambda q: "x" * max(1, 196 - len(q) // 2) + " " + q),
    "text_cut_by_server": ("text/plain", lambda q: f"Cookie: {q[:len(q) * 2 // 3]}..."),
    "url_encoded": ("text/plain", lambda q: f"Go to /login?next=%2F&c={quote(q, safe='')}"),
    "url_encoded_plus": ("text/plain", lambda q: f"Go to /login?c={quote_plus(q)}"),
    "url_encoded_lower": ("text/plain", lambda q: "c=" + quote(q, safe="").lower()),
    "url_encoded_twice": ("text/plain", lambda q: "c=" + quote(quote(q, safe=""), safe="")),
    "base64_aligned_0": ("text/plain", lambda q: "X-Debug: " + _b64("", q)),
    "base64_aligned_1": ("text/plain", lambda q: "X-Debug: " + _b64("C", q)),
    "base64_aligned_2": ("text/plain", lambda q: "X-Debug: " + _b64("Co", q)),
    "base64_header": ("text/plain", lambda q: "trace " + _b64("Cookie: ", q)),
    "base64_urlsafe": ("text/plain", lambda q: "trace " + base64.urlsafe_b64encode(
        f"h={q}".encode()).decode()),
    "base64_wrapped": ("text/plain", lambda q: "trace\n" + "\n".join(
        textwrap.wrap(_b64("Cookie: ", q), 16))),
}


@dataclass
class EchoState:
    #: Answer for the listing, for writes and for the login: "normal", "quote" (a 4xx or 500
    #: quoting back), "quote_200" (a write answered 200 with a page quoting back: the answer is
    #: unusable), "refusal_200" (200 {"error": <quote>}) or "redirect" (Location holds it).
    listing: str = "normal"
    writes: str = "normal"
    login: str = "normal"
    status: int = 400
    cookies: list[str] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    turn: int = 0


def _quote_back(state: EchoState, quoted: str, kind: str) -> web.Response:
    state.quoted.append(quoted)
    if kind == "redirect":
        raise web.HTTPTemporaryRedirect(f"/sso/{quote(quoted, safe='')}?c={quote(quoted)}")
    if kind == "refusal_200":
        return web.json_response({"error": f"not allowed for {quoted}"})
    names = list(FORMATS)
    content_type, body = FORMATS[names[state.turn % len(names)]]
    state.turn += 1
    status = 200 if kind == "quote_200" else state.status
    # The status line's reason phrase quotes the header as well.
    reason = "Bad " + quoted.replace("\r", " ").replace("\n", " ")
    return web.Response(status=status, reason=reason, text=body(quoted),
                        content_type=content_type)


def make_app(state: EchoState) -> web.Application:
    lines: dict[str, dict[str, Any]] = {}

    async def login(request: web.Request) -> web.StreamResponse:
        form = await request.text()
        if state.login != "normal":
            return _quote_back(state, f"{form}; Cookie: {request.headers.get('Cookie', '')}",
                               state.login)
        response = web.json_response({"logged_in": True})
        user = f"s{uuid.uuid4().hex[:6]}{PIN}{uuid.uuid4().hex[:12]}"
        csrf = base64.b64encode(secrets.token_bytes(16)).decode()
        state.cookies += [user, csrf]
        response.set_cookie("user", user)
        response.set_cookie("csrftoken", csrf)
        return response

    async def catalog(key: str, ids: list[str], request: web.Request) -> web.Response:
        return web.json_response([{key: i, "active": "Active"} for i in ids])

    async def listing(request: web.Request) -> web.StreamResponse:
        if state.listing != "normal":
            return _quote_back(state, request.headers.get("Cookie", ""), state.listing)
        return web.json_response(list(lines.values()))

    async def write(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        if state.writes != "normal":
            return _quote_back(state, request.headers.get("Cookie", ""), state.writes)
        record = {"id": str(uuid.uuid4()), "active": "Active", **body}
        lines[record["id"]] = record
        return web.json_response(record)

    app = web.Application()
    app.router.add_post("/api/device-login/", login)
    app.router.add_get("/api/products", partial(catalog, "product_id", [PRODUCT]))
    app.router.add_get("/api/processes", partial(catalog, "process_id", [PROCESS]))
    app.router.add_get("/api/product-processes", listing)
    for method in ("POST", "PUT", "DELETE"):
        app.router.add_route(method, "/api/product-processes", write)
    return app


class EchoServer(AppThread):
    """``with EchoServer() as server:`` serves on ``server.base_url`` until the block ends."""

    def __init__(self) -> None:
        super().__init__()
        self.state = EchoState()

    def make_app(self) -> web.Application:
        return make_app(self.state)
