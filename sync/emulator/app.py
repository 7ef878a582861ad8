"""The HTTP side of the emulator: routes, login sessions and the fault knobs.

Every request passes one middleware, in this order: counted; refused at once with 429 when
``max_concurrency`` are already in flight; failed with a random 500/503 (``error_rate``, before
any effect); checked for a valid ``user`` cookie (401); handled; held until the latency since
its arrival has passed; answered.  A committed product-process write may lose its answer
instead (``drop_rate``): the connection is closed.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from ..errors import EmulatorRefusalError
from .config import EmulatorConfig
from .rules import ID_COLUMN, PROCESSES, PRODUCTS, Catalog
from .store import Store

API = "/api"
LOGIN_PATH = f"{API}/device-login/"
LINES_PATH = f"{API}/product-processes"
#: The cookie that carries the session token.
COOKIE = "user"
#: Who a static token acts as, in created_by / edited_by.
TOKEN_USER = "api"

CONFIG = web.AppKey("emulator_config", EmulatorConfig)
STORE = web.AppKey("emulator_store", Store)
# Per request: who is logged in, and whether to lose the answer (RequestKey is aiohttp >= 3.13).
if hasattr(web, "RequestKey"):
    _USER: Any = web.RequestKey("emulator_user", str)
    _DROP: Any = web.RequestKey("emulator_drop", bool)
    _HOLD: Any = web.RequestKey("emulator_hold", object)
else:
    _USER, _DROP, _HOLD = "emulator_user", "emulator_drop", "emulator_hold"

_dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(config: EmulatorConfig, store: Store | None = None) -> web.Application:
    """The emulator as an aiohttp application; a new in-memory (or ``db_path``) store if none."""
    app = web.Application(middlewares=[_emulate])
    app[CONFIG] = config
    app[STORE] = store if store is not None else Store(config.db_path)
    app[STATE] = ServerState(Sessions(config), random.Random(config.fault_seed))
    routes = [
        ("POST", LOGIN_PATH, _login),
        ("GET", LINES_PATH, _list_lines),
        ("POST", LINES_PATH, _create_line),
        ("PUT", LINES_PATH, _update_line),
        ("DELETE", LINES_PATH, _delete_line),
    ]
    for catalog in (PRODUCTS, PROCESSES):
        path = f"{API}/{catalog.path}"
        routes.append(("GET", path, partial(_list_catalog, catalog)))
        routes.append(("POST", path, partial(_create_catalog, catalog)))
    for method, path, handler in routes:
        # Clients spell endpoints with and without the trailing slash; serve both.
        base = path.rstrip("/")
        app.router.add_route(method, base, handler)
        app.router.add_route(method, base + "/", handler)
    return app


# --------------------------------------------------------------------------- sessions

@dataclass
class _Session:
    user: str
    requests: int = 0


class Sessions:
    """Tokens that may call the API: static ones from the config and ones a login issued.

    With ``session_requests`` set, a token stops working after that many requests (static
    tokens too) and is answered 401 "session expired" from then on."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._users = dict(config.users)
        self._static = set(config.tokens)
        self._limit = config.session_requests
        self._live: dict[str, _Session] = {}
        self._expired: set[str] = set()

    def login(self, badge: str, pin: str) -> str | None:
        """A new session token for a known badge and PIN, else None."""
        expected = self._users.get(badge)
        if expected is None or not hmac.compare_digest(expected.encode(), pin.encode()):
            return None
        token = secrets.token_urlsafe(24)
        self._live[token] = _Session(f"badge {badge}")
        return token

    def use(self, token: str | None) -> _Session:
        """The session a request's token belongs to, counting the request; 401 otherwise."""
        if not token:
            raise EmulatorRefusalError(
                "Not logged in: log in with POST /api/device-login/ and send the user cookie.",
                status=401,
            )
        session = self._live.get(token)
        if session is None and token in self._static and token not in self._expired:
            session = self._live[token] = _Session(TOKEN_USER)
        if session is None:
            if token in self._expired:
                raise EmulatorRefusalError("Session expired: log in again.", status=401)
            raise EmulatorRefusalError("Not logged in: the user cookie is not a valid session.",
                                       401)
        session.requests += 1
        if self._limit is not None and session.requests > self._limit:
            del self._live[token]
            self._expired.add(token)
            raise EmulatorRefusalError("Session expired: log in again.", status=401)
        return session


@dataclass
class ServerState:
    sessions: Sessions
    faults: random.Random
    in_flight: int = 0
    #: Highest number of requests in flight at once (a test can check the cap held).
    peak_in_flight: int = field(default=0)


STATE = web.AppKey("emulator_state", ServerState)


# --------------------------------------------------------------------------- middleware

@web.middleware
async def _emulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    config, state = request.app[CONFIG], request.app[STATE]
    clock = asyncio.get_running_loop().time
    arrived = clock()
    request.app[STORE].count_request()
    if config.max_concurrency is not None and state.in_flight >= config.max_concurrency:
        headers = {}
        if config.retry_after_s is not None:
            headers["Retry-After"] = f"{config.retry_after_s:g}"
        return _error(429, "Too many requests at once: slow down and try again.", headers)
    state.in_flight += 1
    state.peak_in_flight = max(state.peak_in_flight, state.in_flight)
    try:
        request[_HOLD] = _Hold(arrived, config, state)
        response = await _respond(request, handler, config, state)
        await request[_HOLD].wait()
        if request.get(_DROP) and request.transport is not None:
            # The write stays committed; the client sees the connection close unanswered.
            request.transport.close()
        return response
    finally:
        state.in_flight -= 1


class _Hold:
    """Waits until a request's latency has passed, once: before a streamed answer starts, or
    else before the answer is sent.

    The latency is the whole response time and includes the work just done: a real server
    works on many requests in parallel, so this one-threaded emulator must not add its own
    CPU time on top, or it could never reach its documented limit.  The jitter is drawn when
    the wait starts, after the fault draws, as it always was (a seeded run sees the same
    faults)."""

    def __init__(self, arrived: float, config: EmulatorConfig, state: ServerState) -> None:
        self._arrived = arrived
        self._config = config
        self._state: ServerState | None = state

    async def wait(self) -> None:
        state, config = self._state, self._config
        if state is None:
            return
        self._state = None
        delay_ms = config.latency_ms
        if config.latency_jitter_ms:
            delay_ms += state.faults.uniform(-config.latency_jitter_ms, config.latency_jitter_ms)
        remaining = self._arrived + delay_ms / 1000 - asyncio.get_running_loop().time()
        if remaining > 0:
            await asyncio.sleep(remaining)


async def _respond(
    request: web.Request, handler: Handler, config: EmulatorConfig, state: ServerState
) -> web.StreamResponse:
    try:
        if config.error_rate and state.faults.random() < config.error_rate:
            status = state.faults.choice((500, 503))
            return _error(status, "The server had a problem (injected fault); try again.")
        # A path the API does not have is 404 for anyone, as on a real web server: a wrong
        # base URL must not look like refused credentials.
        routed = request.match_info.http_exception is None
        if routed and request.path.rstrip("/") != LOGIN_PATH.rstrip("/"):
            request[_USER] = state.sessions.use(request.cookies.get(COOKIE)).user
        return await handler(request)
    except EmulatorRefusalError as refusal:
        return _error(refusal.status, str(refusal))
    except web.HTTPNotFound:
        return _error(404, f"There is no endpoint {request.path}.")
    except web.HTTPMethodNotAllowed as refusal:
        allowed = ", ".join(sorted(refusal.allowed_methods))
        return _error(405, f"{request.method} is not allowed on {request.path}; use {allowed}.")
    except web.HTTPException as refusal:
        return _error(refusal.status, refusal.reason)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers, dumps=_dumps)


def _ok(payload: Any) -> web.Response:
    return web.json_response(payload, dumps=_dumps)


async def _stream_json(request: web.Request, blocks: Iterator[bytes]) -> web.StreamResponse:
    """A listing sent a block of encoded records at a time, so a listing of a million lines
    never holds its whole text.  The selection is made (and a bad filter refused) before."""
    await request[_HOLD].wait()
    response = web.StreamResponse()
    response.content_type = "application/json"
    response.charset = "utf-8"
    await response.prepare(request)
    try:
        for block in blocks:
            await response.write(block)
        await response.write_eof()
    except ConnectionResetError:
        pass  # the client stopped reading (an answer larger than it takes): nothing to send
    return response


# --------------------------------------------------------------------------- handlers

async def _login(request: web.Request) -> web.Response:
    form = await _body(request, empty={})
    if not isinstance(form, dict):
        raise EmulatorRefusalError("Send badge and pin as form fields.")
    badge, pin = (str(form.get(name) or "").strip() for name in ("badge", "pin"))
    token = request.app[STATE].sessions.login(badge, pin)
    if token is None:
        raise EmulatorRefusalError("Login failed: the badge or PIN is wrong.", status=401)
    response = _ok({"logged_in": True, "badge": badge})
    response.set_cookie(COOKIE, token, path="/", httponly=True)
    return response


async def _list_lines(request: web.Request) -> web.StreamResponse:
    blocks = request.app[STORE].select_lines_blocks(request.query.items())
    return await _stream_json(request, blocks)


async def _create_line(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    record = request.app[STORE].create_line(
        await _body(request), user=request[_USER],
        allow_duplicate_lines=config.allow_duplicate_lines,
    )
    if config.omit_id_in_response:
        del record[ID_COLUMN]
    return _committed(request, record)


async def _update_line(request: web.Request) -> web.Response:
    record = request.app[STORE].update_line(
        await _body(request), user=request[_USER],
        allow_duplicate_lines=request.app[CONFIG].allow_duplicate_lines,
    )
    return _committed(request, record)


async def _delete_line(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict) or body.get(ID_COLUMN) in (None, ""):
        raise EmulatorRefusalError('Send the id of the record to delete as JSON: {"id": "..."}.')
    return _committed(request, request.app[STORE].delete_line(body[ID_COLUMN]))


def _committed(request: web.Request, payload: Any) -> web.Response:
    """Answer a committed write, unless the drop knob loses the answer."""
    app = request.app
    app[STORE].count_write(request.method)
    config = app[CONFIG]
    if config.drop_rate and app[STATE].faults.random() < config.drop_rate:
        request[_DROP] = True  # the middleware closes the connection instead of answering
    return _ok(payload)


async def _list_catalog(catalog: Catalog, request: web.Request) -> web.StreamResponse:
    _check_catalog_readable(request, catalog)
    blocks = request.app[STORE].select_catalog_blocks(catalog, request.query.items())
    return await _stream_json(request, blocks)


async def _create_catalog(catalog: Catalog, request: web.Request) -> web.Response:
    _check_catalog_readable(request, catalog)
    return _ok(request.app[STORE].create_catalog(catalog, await _body(request)))


def _check_catalog_readable(request: web.Request, catalog: Catalog) -> None:
    if not request.app[CONFIG].products_readable:
        raise EmulatorRefusalError(f"This login may not use /api/{catalog.path}.", status=403)


async def _body(request: web.Request, empty: Any = None) -> Any:
    """A request body: JSON, or form fields as a dict; ``empty`` stands for no body at all."""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return dict(await request.post())
    text = (await request.read()).decode("utf-8", errors="replace")  # JSON is UTF-8 (RFC 8259)
    if not text.strip():
        if empty is not None:
            return empty
        raise EmulatorRefusalError("The request body is empty: send a JSON object.")
    try:
        return json.loads(text)
    except ValueError:
        raise EmulatorRefusalError("The request body is not valid JSON.") from None
