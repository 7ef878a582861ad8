"""The async client for Flowtrac's product-process API (docs/flowtrac-api.md).

One ``FlowtracClient`` owns one aiohttp session and one adaptive limiter (``sync.limiter``)
shared by every request.  What it guarantees to its callers:

* Reads (GET) are retried on 408, 429, 500, 502, 503, 504, timeouts and dropped connections,
  with exponential backoff and full jitter, honouring ``Retry-After``.
* Writes are retried only where the server certainly did not act: 408, 429 and 503 (refused
  before acting) and connections that never opened.  A write whose answer was lost (timeout,
  dropped connection, 500, 502, 504) is never re-sent here: ``AmbiguousWriteError`` is raised
  and the executor checks the server before deciding.
* Other answers are final: 400 ``ServerError``, 403 ``PermissionDeniedError``, 404
  ``NotFoundError``, each with the server's words (JSON, text or HTML reduced to text); 3xx
  ``ConnectionProblemError``.
* 401 with badge and PIN known: one re-login shared by all requests, then the request is
  repeated.  With a bare token: ``AuthError``.
* Every failure a user can meet is an exception from ``sync.errors`` with one sentence that
  never holds the token, PIN or a cookie value.  The server's words are masked
  (``sync.masking``) as they are read, before they are cut to length, so every caller (report,
  journal, web page) gets them masked.

Debug logging (``sync.client``) names method, path, status and duration, nothing else.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import json
import logging
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import orjson
from yarl import URL

from . import schema
from .connection import LINES_PATH, Connection, url_for_message
from .errors import (
    AuthError,
    ConnectionProblemError,
    InvalidValueError,
    LostAnswerError,
    NoLoginPageError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    ServerUnavailableError,
    UsageError,
    _AttemptFailedError,
    _ListingTooLargeError,
    _UnauthorizedError,
)
from .limiter import AdaptiveLimiter, Ticket
from .listing import Listing
from .masking import Secrets

log = logging.getLogger("sync.client")
_T = TypeVar("_T")

PRODUCTS_PATH = "products"
PROCESSES_PATH = "processes"
LOGIN_PATH = "device-login/"

#: Largest listing answer accepted (a whole 100,000-line table is about 50 MB of JSON); a
#: larger one is asked for again in narrower parts (``_get_list``).
MAX_LISTING_BYTES = 200 * 2**20
#: How many times a listing without an ``-in`` filter to halve is split by id range: 2**8
#: parts of 200 MB each is far beyond any tenant, and a server that ignores the range filter
#: is not asked for ever.
MAX_ID_SPLITS = 8
#: One past the largest uuid, as an integer: the open upper end of the whole id range.
_UUID_END = 2**128
_ID_COLUMN = schema.ID.filter_name or schema.ID.name
#: Largest answer to a write or a login: one record, or an error page.
MAX_WRITE_BYTES = 2**20
#: How much of an error answer is read to find the server's words.
MAX_ERROR_BYTES = 64 * 2**10
#: A Retry-After longer than this is not waited for: the request fails instead.
MAX_RETRY_AFTER_S = 300.0
#: Longest server text quoted in an error message.
MAX_WORDS = 200
#: Logins in a row whose session served nothing before the server refused it again.
MAX_FRUITLESS_LOGINS = 3

# --------------------------------------------------------------------------- statistics

@dataclass
class ClientStats:
    """Plain counters for the run summary."""

    requests: int = 0      # HTTP requests sent, logins and retries included
    retries: int = 0       # requests repeated after a 429/5xx/transport failure
    throttled: int = 0     # 429 answers
    relogins: int = 0      # logins after a 401
    errors: int = 0        # 5xx answers and transport failures (retried or not)
    ambiguous: int = 0     # writes whose answer was lost
    narrowed: int = 0      # listings answered too large and asked for again in parts


# --------------------------------------------------------------------------- the client

#: Answers worth another attempt.  408, 429 and 503 say the server did not act on the request;
#: after 500, 502 or 504 a write may or may not have been done.
_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
_NOT_ACTED = frozenset({408, 429, 503})
#: A request answered 401 this often (sessions renewed in between) gives up.
_MAX_UNAUTHORIZED = 20


class FlowtracClient:
    """Talks to one Flowtrac server; use as ``async with FlowtracClient(conn) as client``."""

    def __init__(self, connection: Connection, *, concurrency: int = 16,
                 rate: float | None = None, retries: int = 5, backoff_base_s: float = 0.2,
                 backoff_max_s: float = 10.0, listing_batch: int = 200,
                 max_listing_bytes: int = MAX_LISTING_BYTES,
                 max_id_splits: int = MAX_ID_SPLITS) -> None:
        if concurrency < 1:
            raise UsageError("--concurrency must be at least 1.")
        if rate is not None and rate <= 0:
            raise UsageError("--rate must be a positive number of requests per second.")
        if retries < 0:
            raise UsageError("--retries must be 0 or more.")
        if listing_batch < 1:
            raise ValueError("listing_batch must be at least 1")
        self.connection = connection
        self.concurrency = concurrency
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.listing_batch = listing_batch
        self.max_listing_bytes = max_listing_bytes
        self.max_id_splits = max_id_splits
        self.stats = ClientStats()
        self.limiter = AdaptiveLimiter(concurrency, rate=rate)
        self._random = random.Random()
        self._sleep = asyncio.sleep       # tests replace it to see the waits without waiting
        self._base = connection.base_url.rstrip("/")
        self._urls: dict[str, URL] = {}
        self._session: aiohttp.ClientSession | None = None
        self._login_lock = asyncio.Lock()
        self._session_gen = 0             # bumped at each login
        self._fruitless_logins = 0        # logins since the last request the server accepted
        self._login_failure: ConnectionProblemError | None = None
        self._cookies: dict[str, str] = {}
        if connection.token:
            self._cookies["user"] = connection.token
        # Learns every cookie a server sets, and keeps those of the last few logins: a late
        # answer may quote an earlier session's cookie.
        self._secrets = Secrets([connection.token, connection.pin])
        self._headers = self._build_headers()

    @property
    def host(self) -> str:
        return self.connection.host

    def __repr__(self) -> str:
        return f"FlowtracClient({self.connection!r}, concurrency={self.concurrency})"

    # ------------------------------------------------------------------ session

    async def __aenter__(self) -> FlowtracClient:
        timeout_s = self.connection.timeout_s
        connector = aiohttp.TCPConnector(
            limit=self.concurrency + 2, ttl_dns_cache=300, ssl=self.connection.verify_tls)
        self._session = aiohttp.ClientSession(
            connector=connector,
            # Cookies are kept by hand (``_cookies``): the jar would drop those a login sets
            # on its own path, and refuses cookies from an IP address.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 10.0)),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _build_headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self._cookies.items())
        return headers

    def _url(self, path: str) -> URL:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = URL(f"{self._base}/{path}")
        return url

    def _mask(self, text: str) -> str:
        return self._secrets.mask(text)

    def _keep_cookies(self, resp: aiohttp.ClientResponse) -> dict[str, str]:
        """The cookies ``resp`` sets, each value (as sent and as decoded) known as a secret."""
        morsels = [m for m in resp.cookies.values() if m.value]
        self._secrets.add(v for m in morsels for v in (m.value, m.coded_value))
        return {m.key: m.coded_value for m in morsels}

    # ------------------------------------------------------------------ login

    async def login(self) -> None:
        """Log in with badge and PIN.  Nothing to do with a token: it is used as it is (and
        badge and PIN, if given too, only renew an expired session).

        Raises AuthError for refused credentials, ConnectionProblemError when unreachable."""
        if self.connection.token or not self.connection.can_login:
            return
        async with self._login_lock:
            await self._login()

    async def _login(self) -> None:
        """POST the badge and PIN; keep every cookie the answer sets.  Holds the lock."""
        try:
            await self._post_login()
        except ConnectionProblemError as failure:
            self._login_failure = failure
            raise
        self._login_failure = None

    async def _post_login(self) -> None:
        session = self._require_session()
        form = {"badge": self.connection.badge or "", "pin": self.connection.pin or ""}
        attempt = 0
        while True:
            try:
                status, cookies, raw, reason = await self._login_once(session, form)
            except _AttemptFailedError as failure:
                attempt = await self._next_attempt(attempt, failure, "POST", LOGIN_PATH)
                continue
            if 200 <= status < 400 and cookies:
                self._cookies = cookies
                self._headers = self._build_headers()
                self._session_gen += 1
                self._fruitless_logins += 1
                return
            badge = self.connection.badge
            if status in (400, 401, 403):
                words = self._words(raw) or reason
                raise AuthError(f"The server refused the login for badge {badge} ({words}); "
                                f"check the badge and PIN.")
            if 200 <= status < 400:
                raise AuthError(f"The login for badge {badge} was answered (HTTP {status}) "
                                f"without a session cookie; check --base-url and the "
                                f"credentials.")
            if status == 404:
                raise NoLoginPageError(f"There is no login page at {self._where(LOGIN_PATH)} "
                                             f"(HTTP 404); check --company or --base-url.")
            raise ConnectionProblemError(f"The login at {self.host} failed (HTTP {status}: "
                                         f"{self._words(raw) or reason}).")

    async def _login_once(self, session: aiohttp.ClientSession, form: dict[str, str]
                          ) -> tuple[int, dict[str, str], bytes, str]:
        ticket = await self.limiter.acquire()
        started = asyncio.get_running_loop().time()
        self.stats.requests += 1
        try:
            async with session.post(self._url(LOGIN_PATH), data=form, allow_redirects=False,
                                    headers={"Accept": "application/json"}) as resp:
                status = resp.status
                cookies = self._keep_cookies(resp)
                raw = await _read_limited(resp, MAX_ERROR_BYTES) or b""
                reason = self._reason(resp)
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except Exception as exc:
            self._log("POST", LOGIN_PATH, None, started, exc)
            raise self._transport_failure(exc) from None
        finally:
            self.limiter.release(ticket)
        self._log("POST", LOGIN_PATH, status, started)
        if status in _RETRYABLE:
            raise self._status_failure(status, raw, reason, retry_after, ticket)
        self.limiter.on_success(ticket)
        return status, cookies, raw, reason

    async def _renew_session(self, gen: int) -> None:
        """A request sent with session ``gen`` was answered 401: log in again, once for all."""
        if not self.connection.can_login:
            raise AuthError("The session expired or the token is not valid; get a new token, "
                            "or give --badge and --pin so the tool can log in by itself.")
        async with self._login_lock:
            if self._session_gen != gen:
                return                      # another request has logged in again meanwhile
            if self._login_failure is not None:
                # Requests that queued behind a failed login do not each try again (a badge
                # may lock after a few wrong PINs).
                raise type(self._login_failure)(str(self._login_failure))
            if self._fruitless_logins >= MAX_FRUITLESS_LOGINS:
                raise AuthError(f"The server at {self.host} refused the session right after a "
                                f"fresh login; check the badge's permissions and --base-url.")
            if self._cookies:
                self.stats.relogins += 1        # renewing, not the first login
            await self._login()

    # ------------------------------------------------------------------ one request

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("FlowtracClient is used outside `async with`")
        return self._session

    async def _call(self, method: str, path: str, *, params: list[tuple[str, str]] | None = None,
                    payload: dict[str, Any] | None = None, max_bytes: int) -> bytes | None:
        """Send one request with retries; returns the success body (None if over max_bytes)."""
        session = self._require_session()
        write = method != "GET"
        data = None if payload is None else json.dumps(payload).encode()
        url = self._url(path)
        attempt = unauthorized = 0
        while True:
            if not self._cookies and self.connection.can_login:
                await self._renew_session(self._session_gen)   # nobody called login()
            gen = self._session_gen
            try:
                return await self._attempt(session, method, path, url, params, data, max_bytes)
            except _UnauthorizedError:
                unauthorized += 1
                if unauthorized >= _MAX_UNAUTHORIZED:
                    raise AuthError(f"The server at {self.host} kept answering 401 to "
                                    f"{method} /{path} although each new login worked.") from None
                await self._renew_session(gen)
            except _AttemptFailedError as failure:
                if write and failure.may_have_acted:
                    self.stats.ambiguous += 1
                    raise LostAnswerError(f"{method} /{path}: the answer was lost "
                                          f"({failure.reason}); the write may or may not have been "
                                          f"committed.", failure.status) from None
                attempt = await self._next_attempt(attempt, failure, method, path)

    async def _attempt(self, session: aiohttp.ClientSession, method: str, path: str, url: URL,
                       params: list[tuple[str, str]] | None, data: bytes | None,
                       max_bytes: int) -> bytes | None:
        ticket = await self.limiter.acquire()
        started = asyncio.get_running_loop().time()
        self.stats.requests += 1
        reason, retry_after, location = "", None, ""
        try:
            async with session.request(method, url, params=params, data=data,
                                       headers=self._headers, allow_redirects=False) as resp:
                status = resp.status
                if 200 <= status < 300:
                    raw = await _read_limited(resp, max_bytes)
                    if "Set-Cookie" in resp.headers:
                        self._take_cookies(resp)
                else:
                    raw = await _read_limited(resp, MAX_ERROR_BYTES) or b""
                    reason = self._reason(resp)
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
                    location = resp.headers.get("Location", "")
        except Exception as exc:
            self._log(method, path, None, started, exc)
            raise self._transport_failure(exc) from None
        finally:
            self.limiter.release(ticket)
        self._log(method, path, status, started)
        if 200 <= status < 300:
            self.limiter.on_success(ticket)
            self._fruitless_logins = 0
            return raw
        if status == 401:
            raise _UnauthorizedError()
        if status in _RETRYABLE:
            raise self._status_failure(status, raw, reason, retry_after, ticket)
        self.limiter.on_success(ticket)   # any other answer: the server is not overloaded
        self._fruitless_logins = 0
        if 300 <= status < 400:
            raise ConnectionProblemError(
                f"The server at {self.host} redirected {method} /{path} to "
                f"{url_for_message(self._mask(location))!r} (HTTP {status}); point "
                f"--base-url at the address that answers directly.")
        words = self._words(raw)
        message = f"{words} (HTTP {status})" if words else f"HTTP {status} {reason}".strip()
        error_class = {403: PermissionDeniedError, 404: NotFoundError}.get(status, ServerError)
        raise error_class(message, status, words or None)

    def _status_failure(self, status: int, raw: bytes | None, reason: str,
                        retry_after: float | None, ticket: Ticket) -> _AttemptFailedError:
        """A retryable answer (408, 429, 5xx): tell the limiter, count it, describe it."""
        if status in (429, 503):
            self.limiter.on_overload(ticket, too_many=status == 429)
        if status == 429:
            self.stats.throttled += 1
        else:
            self.stats.errors += 1
        words = self._words(raw)
        text = f"HTTP {status}: {words}" if words else f"HTTP {status} {reason}".strip()
        return _AttemptFailedError(text, status=status, retry_after=retry_after,
                                   may_have_acted=status not in _NOT_ACTED)

    def _transport_failure(self, exc: Exception) -> _AttemptFailedError:
        self.stats.errors += 1
        timeout_s = self.connection.timeout_s
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            raise ConnectionProblemError(f"The TLS certificate of {self.host} could not be "
                                         f"verified; use --insecure only if you trust this "
                                         f"server.") from None
        if isinstance(exc, aiohttp.ClientConnectorDNSError):
            return _AttemptFailedError("the name could not be resolved", may_have_acted=False)
        if isinstance(exc, aiohttp.ClientConnectorSSLError):
            return _AttemptFailedError("the TLS handshake failed", may_have_acted=False)
        if isinstance(exc, aiohttp.ClientConnectorError):
            strerror = (exc.os_error.strerror or "").lower() if exc.os_error else ""
            return _AttemptFailedError(strerror or "the connection could not be opened",
                                       may_have_acted=False)
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return _AttemptFailedError("connecting timed out", may_have_acted=False)
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return _AttemptFailedError("the server closed the connection without an answer",
                                       may_have_acted=True)
        if isinstance(exc, aiohttp.ClientPayloadError):
            return _AttemptFailedError("the answer broke off", may_have_acted=True)
        if isinstance(exc, TimeoutError):
            return _AttemptFailedError(f"no answer within {timeout_s:g} s", may_have_acted=True)
        if isinstance(exc, aiohttp.ClientOSError):
            reason = (exc.strerror or type(exc).__name__).lower()
            return _AttemptFailedError(f"network error ({reason})", may_have_acted=True)
        if isinstance(exc, aiohttp.ClientError | OSError):
            return _AttemptFailedError(f"network error ({type(exc).__name__})", may_have_acted=True)
        raise exc

    async def _next_attempt(self, attempt: int, failure: _AttemptFailedError, method: str,
                            path: str) -> int:
        """Sleep before the next attempt, or raise once the retries are used up."""
        if failure.retry_after is not None and failure.retry_after > MAX_RETRY_AFTER_S:
            raise ServerUnavailableError(f"The server at {self.host} asks to wait "
                                         f"{failure.retry_after:.0f} s before {method} /{path} "
                                         f"({failure.reason}); try again later.", failure.status)
        if attempt >= self.retries:
            tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
            if failure.status is not None:
                raise ServerUnavailableError(f"The server at {self.host} kept failing {method} "
                                             f"/{path} ({failure.reason}) after {tries}.",
                                             failure.status, failure.reason)
            raise ConnectionProblemError(f"Cannot reach {self.host}: {failure.reason} (after "
                                         f"{tries}); check the address and that the server is up.")
        attempt += 1
        self.stats.retries += 1
        await self._sleep(self._delay(attempt, failure.retry_after))
        return attempt

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter; a Retry-After is a floor, spread a little so retries do not bunch."""
        if retry_after is not None:
            return retry_after + self._random.uniform(0, 0.2 * retry_after + 0.01)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2 ** (attempt - 1))
        return self._random.uniform(0, ceiling)

    def _take_cookies(self, resp: aiohttp.ClientResponse) -> None:
        """A server that renews its cookies on a normal answer: follow it, as a browser does."""
        fresh = self._keep_cookies(resp)
        if fresh and any(self._cookies.get(k) != v for k, v in fresh.items()):
            self._cookies.update(fresh)
            self._headers = self._build_headers()

    def _words(self, raw: bytes | None) -> str:
        return readable_error(raw or b"", self._mask)

    def _reason(self, resp: aiohttp.ClientResponse) -> str:
        """The status line's reason phrase: the server's words too."""
        return _truncate(self._mask(_collapse(resp.reason or "")))

    def _where(self, path: str) -> str:
        return url_for_message(f"{self._base}/{path}")

    def _log(self, method: str, path: str, status: int | None, started: float,
             exc: BaseException | None = None) -> None:
        if log.isEnabledFor(logging.DEBUG):
            ms = (asyncio.get_running_loop().time() - started) * 1000
            outcome = status if exc is None else type(exc).__name__
            log.debug("%s /%s -> %s in %.0f ms", method, path, outcome, ms)

    # ------------------------------------------------------------------ JSON answers

    async def _get_list(self, path: str, params: list[tuple[str, str]] | None
                        ) -> list[dict[str, Any]]:
        """The records a listing answers (``_get_parts``, joined)."""
        return [r for part in await self._get_parts(path, params, _records) for r in part]

    async def _get_parts(self, path: str, params: list[tuple[str, str]] | None,
                         convert: Callable[[list[dict[str, Any]]], _T],
                         span: tuple[int, int] = (-1, _UUID_END)) -> list[_T]:
        """The records a listing answers, limited to ids within ``span`` (see ``_narrower``),
        each answer's turned by ``convert`` as soon as it is in.

        An answer over ``max_listing_bytes`` is asked for again as narrower listings, one
        after the other so that no more than one answer is held at a time."""
        try:
            return [convert(await self._get_list_once(
                path, [*(params or []), *_span_filters(span)] or None))]
        except _ListingTooLargeError:
            parts = _narrower(params or [], span, self.max_id_splits)
            if parts is None:
                raise
        self.stats.narrowed += 1
        log.info("GET /%s answered over %s: asked for again in %d parts", path,
                 _size(self.max_listing_bytes), len(parts))
        converted: list[_T] = []
        for part_params, part_span in parts:
            converted += await self._get_parts(path, part_params, convert, part_span)
        return converted

    async def _get_list_once(self, path: str, params: list[tuple[str, str]] | None
                             ) -> list[dict[str, Any]]:
        raw = await self._call("GET", path, params=params, max_bytes=self.max_listing_bytes)
        what = f"GET /{path}"
        if raw is None:
            raise _ListingTooLargeError(f"The server at {self.host} answered {what} with more "
                                        f"than {_size(self.max_listing_bytes)}, even asked for "
                                        f"in parts; narrow the listing (filters or a smaller "
                                        f"scope).")
        try:
            data = orjson.loads(raw)   # a 100,000-line listing parses three times faster
        except ValueError:
            raise ConnectionProblemError(f"The server at {self.host} answered {what} with "
                                         f"{describe_unusable(raw, self._mask)} instead of "
                                         f"data; check --base-url.") from None
        if not isinstance(data, list) or not set(map(type, data)) <= {dict}:
            shape = "a JSON object" if isinstance(data, dict) else f"JSON {type(data).__name__}"
            if isinstance(data, list):
                shape = "a list holding something other than records"
            raise ConnectionProblemError(f"The server at {self.host} answered {what} with {shape} "
                                         f"where a list of records was expected.")
        return data

    def _record_from_answer(self, method: str, raw: bytes | None) -> dict[str, Any] | None:
        """The canonical record in a write's answer, or None when it holds no usable one
        (``_write_answer`` says which answers are no answer at all)."""
        data = self._write_answer(method, raw)
        if data is None:
            return None
        record = schema.record_from_wire(data)
        record_id = record.get(schema.ID.name)
        try:
            valid_id = schema.ID.parse(record_id) is not None
        except InvalidValueError:
            valid_id = False
        if valid_id:
            return record
        error = data.get("error")
        if isinstance(error, str) and error.strip():
            # A server that answers 200 {"error": ...}: it says it did not do the write.
            words = _truncate(self._mask(_collapse(error)))
            raise ServerError(f"{words} (HTTP 200)", 200, words)
        return None

    # ------------------------------------------------------------------ listings

    async def list_lines(self, filters: list[tuple[str, str]] | None = None) -> Listing:
        """GET product-processes with ``(column[-op], value)`` filters; canonical lines."""
        listing = Listing()
        for part in await self._get_parts(LINES_PATH, filters, Listing.from_wire):
            listing.extend(part)   # each answer columns at once: one held as records at most
        return listing

    async def list_lines_for_products(self, product_ids: Iterable[str]) -> Listing:
        """Every line of these products: ``product_id-in`` batches fetched concurrently."""
        return await self._list_lines_in(schema.PRODUCT_ID, product_ids)

    async def list_lines_by_ids(self, ids: Iterable[str]) -> Listing:
        """The lines with these ids (those the server has): ``id-in`` batches."""
        return await self._list_lines_in(schema.ID, ids)

    async def _list_lines_in(self, field: schema.Field, values: Iterable[str]) -> Listing:
        # Each batch becomes columns as soon as it is in, while the server works on the rest.
        listing = Listing()
        for part in await self._list_in(LINES_PATH, field, values, Listing.from_wire):
            listing.extend(part)
        return listing

    async def list_products(self, filters: list[tuple[str, str]] | None = None
                            ) -> list[dict[str, Any]]:
        """GET products; raw JSON records with their ids lower-cased."""
        return _lower_ids(await self._get_list(PRODUCTS_PATH, filters))

    async def list_processes(self, filters: list[tuple[str, str]] | None = None
                             ) -> list[dict[str, Any]]:
        """GET processes; raw JSON records with their ids lower-cased."""
        return _lower_ids(await self._get_list(PROCESSES_PATH, filters))

    async def products_exist(self, ids: Iterable[str]) -> set[str]:
        """Which of these product ids the server knows (PermissionDeniedError on 403)."""
        return await self._exist(PRODUCTS_PATH, schema.PRODUCT_ID, ids)

    async def processes_exist(self, ids: Iterable[str]) -> set[str]:
        """Which of these process ids the server knows (PermissionDeniedError on 403)."""
        return await self._exist(PROCESSES_PATH, schema.PROCESS_ID, ids)

    async def _exist(self, path: str, field: schema.Field, ids: Iterable[str]) -> set[str]:
        wanted = {field.from_wire(i) for i in ids}
        found: list[list[dict[str, Any]]] = await self._list_in(path, field, wanted)
        return {field.from_wire(r.get(field.name)) for part in found for r in part} & wanted

    async def _list_in(self, path: str, field: schema.Field, values: Iterable[str],
                       convert: Callable[[list[dict[str, Any]]], _T] | None = None
                       ) -> list[_T]:
        """``<field>-in`` lookups in batches of ``listing_batch``, all in flight together
        (the limiter bounds them).  A batch refused as too long a URL (414) is split.

        Returns each batch's records, in batch order; ``convert`` turns them as soon as the
        batch is in, while the server still works on the others."""
        unique = list(dict.fromkeys(str(v) for v in values if v is not None))
        size = self.listing_batch
        batches = [unique[i:i + size] for i in range(0, len(unique), size)]
        if not batches:
            return []

        async def one(batch: list[str]) -> _T:
            records = await self._list_batch(path, field, batch)
            return records if convert is None else convert(records)  # type: ignore[return-value]

        return await all_or_nothing([one(b) for b in batches])

    async def _list_batch(self, path: str, field: schema.Field, batch: list[str]
                          ) -> list[dict[str, Any]]:
        column = f"{field.filter_name or field.name}-in"
        return await read_in_batch(
            lambda values: self._get_list(path, [(column, ",".join(values))]), batch)

    # ------------------------------------------------------------------ writes

    async def create_line(self, values: dict[str, Any]) -> dict[str, Any] | None:
        """POST one line (canonical values); the created record, or None if the answer held
        none (find it by key).  AmbiguousWriteError when the answer was lost."""
        raw = await self._call("POST", LINES_PATH, payload=schema.wire_body(values),
                               max_bytes=MAX_WRITE_BYTES)
        return self._record_from_answer("POST", raw)

    async def update_line(self, record_id: str, changes: dict[str, Any]
                          ) -> dict[str, Any] | None:
        """PUT only ``changes`` to the line ``record_id``; the record as answered, or None."""
        payload = {schema.ID.wire_name: record_id, **schema.wire_body(changes)}
        raw = await self._call("PUT", LINES_PATH, payload=payload, max_bytes=MAX_WRITE_BYTES)
        return self._record_from_answer("PUT", raw)

    async def delete_line(self, record_id: str) -> None:
        """DELETE the line; NotFoundError (status 404) when the server has no such line."""
        raw = await self._call("DELETE", LINES_PATH, payload={schema.ID.wire_name: record_id},
                               max_bytes=MAX_WRITE_BYTES)
        # A 200 {"error": ...} is a refusal.
        self._record_from_answer("DELETE", raw)

    def _write_answer(self, method: str, raw: bytes | None) -> dict[str, Any] | None:
        """The object a write's success answer holds (a JSON object or a one-record list);
        None for an empty body.

        Any other body is no answer a server gives to a write (an HTML page from a proxy,
        JSON cut off, a body too large to read): the write may or may not have been done.
        For a POST that is None too (the executor finds the line by its key); a PUT or a
        DELETE is ambiguous (LostAnswerError: the executor checks the server), never taken
        as done."""
        if raw is None:
            shape = f"more than {_size(MAX_WRITE_BYTES)}"
        elif not raw.strip():
            return None
        else:
            try:
                data = json.loads(raw)
            except ValueError:
                shape = describe_unusable(raw, self._mask)
            else:
                if isinstance(data, list) and len(data) == 1:
                    data = data[0]
                if isinstance(data, dict):
                    return data
                shape = "JSON of another shape"
        if method == "POST":
            return None
        self.stats.ambiguous += 1
        raise LostAnswerError(f"{method} /{LINES_PATH} was answered with {shape} instead of a "
                              "result; the write may or may not have been committed.", 200)


def _narrower(params: list[tuple[str, str]], span: tuple[int, int], splits_left: int
              ) -> list[tuple[list[tuple[str, str]], tuple[int, int]]] | None:
    """Narrower listings that together ask for what ``params`` within ``span`` asks for, or
    None when it cannot be narrowed further.

    The longest ``-in`` filter with two values or more is halved.  Otherwise the span of ids
    (exclusive integer bounds) is cut at its middle into below, equal to and above it: their
    filters hold for exactly the records of the whole, whatever order the server gives
    uuids, and each cut halves the span, so ``splits_left`` cuts at most are made."""
    lists = [(len(value.split(",")), n) for n, (name, value) in enumerate(params)
             if name.endswith("-in")]
    count, at = max(lists, default=(0, 0))
    if count >= 2:
        name, values = params[at][0], params[at][1].split(",")
        return [([*params[:at], (name, ",".join(part)), *params[at + 1:]], span)
                for part in (values[:count // 2], values[count // 2:])]
    low, high = span
    cuts = _UUID_END.bit_length() - (high - low).bit_length()
    middle = (low + 1 + high) // 2
    if cuts >= splits_left or not low < middle < high:
        return None
    return [(params, (low, middle)), (params, (middle, middle)), (params, (middle, high))]


def _span_filters(span: tuple[int, int]) -> list[tuple[str, str]]:
    """The id filters of a span: the whole range (none), one id, or exclusive bounds."""
    low, high = span
    if low == high:
        return [(_ID_COLUMN, _uuid_text(low))]
    bounds = []
    if low >= 0:
        bounds.append((f"{_ID_COLUMN}-gt", _uuid_text(low)))
    if high < _UUID_END:
        bounds.append((f"{_ID_COLUMN}-lt", _uuid_text(high)))
    return bounds


def _uuid_text(value: int) -> str:
    return str(uuid.UUID(int=value))


# --------------------------------------------------------------------------- helpers

async def all_or_nothing(awaitables: Sequence[Awaitable[_T]]) -> list[_T]:
    """Run concurrently; on the first failure cancel the rest and raise that failure as it
    is (a TaskGroup would wrap it in an ExceptionGroup that callers do not expect)."""
    if len(awaitables) == 1:
        return [await awaitables[0]]
    tasks = [asyncio.ensure_future(c) for c in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def read_in_batch(read: Callable[[list[str]], Awaitable[list[_T]]],
                        batch: list[str]) -> list[_T]:
    """``read(batch)`` (one ``-in`` request for the values); a batch the server refuses as too
    long a URL (414) is read again as two halves, in flight together."""
    try:
        return await read(batch)
    except ServerError as exc:
        if exc.status != 414 or len(batch) < 2:
            raise
    half = len(batch) // 2
    first, second = await all_or_nothing([read_in_batch(read, batch[:half]),
                                          read_in_batch(read, batch[half:])])
    return first + second


async def _read_limited(resp: aiohttp.ClientResponse, max_bytes: int) -> bytes | None:
    """The body, or None (and the connection dropped) when it is larger than max_bytes."""
    length = resp.content_length
    if length is not None and length > max_bytes:
        resp.close()
        return None
    if length is not None and "Content-Encoding" not in resp.headers:
        return await resp.read()
    chunks = []
    total = 0
    async for chunk in resp.content.iter_chunked(2**16):
        total += len(chunk)
        if total > max_bytes:
            resp.close()
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return records


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = _parse_http_date(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _parse_http_date(value: str) -> dt.datetime:
    from email.utils import parsedate_to_datetime

    when = parsedate_to_datetime(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when


def _lower_ids(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records, their ids made canonical in place; a column of ids already canonical (the
    usual answer) is recognised in one pass (``Field.all_canonical``)."""
    for field in (schema.PRODUCT_ID, schema.PROCESS_ID, schema.ID):
        holding = [r for r in records if r.get(field.name) is not None]
        if field.all_canonical([r[field.name] for r in holding]):
            continue
        for record in holding:
            record[field.name] = field.from_wire(record[field.name])
    return records


_TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.I | re.S)
_HIDDEN_RE = re.compile(r"<(script|style|head)\b.*?</\1\s*>|<!--.*?-->", re.I | re.S)
_TAG_RE = re.compile(r"<[^>]*>")


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _truncate(text: str, limit: int = MAX_WORDS) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<") and ("<html" in head or "<!doctype" in head or "<head" in head
                                     or "<body" in head or "<title" in head or "<h1" in head
                                     or "<p" in head or "<div" in head)


def html_text(page: str) -> str:
    """An HTML page as a line of text: its title, then its visible text if that adds to it."""
    title_match = _TITLE_RE.search(page)
    title = _collapse(html.unescape(_TAG_RE.sub(" ", title_match.group(1)))) if title_match \
        else ""
    body = _collapse(html.unescape(_TAG_RE.sub(" ", _HIDDEN_RE.sub(" ", page))))
    if title and body.startswith(title):
        return body
    return f"{title}: {body}" if title and body else title or body


def _same(text: str) -> str:
    return text


def readable_error(raw: bytes, mask: Callable[[str], str] = _same) -> str:
    """The server's words in an error answer: JSON ``error``/``message``, text, or HTML
    reduced to its title and text; ``mask``ed (``Secrets.mask``), then cut to at most
    ``MAX_WORDS`` characters; "" when empty."""
    words = _error_words(raw)
    return _truncate(mask(words)) if words else ""


def _error_words(raw: bytes) -> str:
    """``readable_error`` before masking and cutting."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    else:
        if isinstance(data, dict):
            for key in ("error", "message", "detail", "error_description", "title", "errors"):
                value = data.get(key)
                if isinstance(value, dict):
                    value = value.get("message") or value.get("error")
                if isinstance(value, list) and value:
                    value = "; ".join(str(v) for v in value)
                if isinstance(value, str) and value.strip():
                    return _collapse(value)
        if isinstance(data, str):
            return _collapse(data)
        return _collapse(json.dumps(data))
    if _looks_like_html(text):
        return html_text(text)
    return _collapse(text)


def describe_unusable(raw: bytes, mask: Callable[[str], str] = _same) -> str:
    """What a success body that is not JSON looks like, for a message; the page's words in it
    are ``mask``ed before they are cut."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return "an empty answer"
    if _looks_like_html(text):
        title_match = _TITLE_RE.search(text)
        title = mask(_collapse(html.unescape(title_match.group(1)))) if title_match else ""
        return f"an HTML page ({_truncate(title, 80)!r})" if title else "an HTML page"
    if text[:1] in "[{":
        return "JSON that breaks off or is malformed"
    return f"text ({_truncate(mask(_collapse(text)), 60)!r})"
