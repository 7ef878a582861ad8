"""Reading a posted form within bounds, its CSRF token first.

Until the session's token has come (as the ``X-CSRF-Token`` header, or as the form's first
field, where every form of the page puts it) nothing else is read: a forged form costs the
server one small field.  After it, the fields other than the file are bounded in number and
size, a body that pauses longer than the stall timeout is given up, and a garbled or cut-off
body is refused with a sentence.  A browser that goes away mid-form raises ``ConnectionError``
(the guard logs it in one line).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from sync.errors import FormRefusedError

#: Fields (other than the file) a form may hold; the page's largest form has eight.
MAX_FIELDS = 32
#: Bytes of one field, and of all fields together (the file aside).
MAX_FIELD_BYTES = 8 * 1024
MAX_FIELDS_BYTES = 64 * 1024

T = TypeVar("T")
#: What one read of a request body gives: bytes, or a multipart reader's next part.
Chunk = TypeVar("Chunk")


NO_TOKEN = (403, "The form's security token is missing or out of date (the page was open too "
                 "long, or the form came from elsewhere). Nothing was done; reload the page "
                 "and try again.")
TOO_MANY = (413, "This form holds more fields than this page's forms have; nothing was done.")
TOO_LARGE = (413, "A field of this form is larger than this page's forms allow; nothing was "
                  "done.")
GARBLED = (400, "The upload arrived incomplete or garbled (its form was cut off or malformed), "
                "so nothing was done. Try again.")
STALLED = (408, "The form stopped arriving before it was complete, so nothing was done. Try "
                "again.")
TWO_FILES = (400, "Upload one file at a time; nothing was done.")


@dataclass
class Form(Generic[T]):
    """A posted form whose token was right: its fields (the first of each name)."""

    fields: dict[str, str] = field(default_factory=dict)
    #: What ``on_file`` made of the form's file part, if it had one.
    file: T | None = None


async def read_chunk(read: Callable[[], Awaitable[Chunk]], stall_s: float) -> Chunk:
    """One read of the body (bytes, or the next part of a multipart body); a browser silent
    for ``stall_s`` is given up (408)."""
    try:
        async with asyncio.timeout(stall_s):
            return await read()
    except TimeoutError:
        raise FormRefusedError(STALLED) from None


async def read_form(request: web.Request, *, csrf_ok: Callable[[str | None], bool],
                    stall_s: float,
                    on_file: Callable[[BodyPartReader], Awaitable[T]] | None = None
                    ) -> Form[T]:
    """The posted fields (url-encoded or multipart), once the CSRF token is right.

    ``on_file`` stores the file part named ``file`` (a second one is refused); any other part
    is a field, within the bounds.  Raises ``FormRefusedError``; ``ConnectionError`` when the
    browser is gone."""
    try:
        if request.content_type.startswith("multipart/"):
            return await _read_multipart(request, csrf_ok, stall_s, on_file)
        return _checked(_read_urlencoded(await _read_body(request, stall_s)), csrf_ok,
                        request.headers.get("X-CSRF-Token"))
    except (ValueError, HttpProcessingError, web.RequestPayloadError):
        # aiohttp's words for a malformed body: bad boundary, header, length or encoding.
        raise FormRefusedError(GARBLED) from None


async def _read_body(request: web.Request, stall_s: float) -> bytes:
    if request.content_length is not None and request.content_length > MAX_FIELDS_BYTES:
        raise FormRefusedError(TOO_LARGE)
    body = b""
    while chunk := await read_chunk(request.content.readany, stall_s):
        body += chunk
        if len(body) > MAX_FIELDS_BYTES:
            raise FormRefusedError(TOO_LARGE)
    return body


def _read_urlencoded(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                          max_num_fields=MAX_FIELDS, encoding="utf-8", errors="replace")
    except ValueError:      # more than max_num_fields
        raise FormRefusedError(TOO_MANY) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if len(value.encode()) > MAX_FIELD_BYTES:
            raise FormRefusedError(TOO_LARGE)
        fields.setdefault(name, value)
    return fields


def _checked(fields: dict[str, str], csrf_ok: Callable[[str | None], bool],
             header_token: str | None) -> Form[T]:
    if not (csrf_ok(header_token) or csrf_ok(fields.get("csrf"))):
        raise FormRefusedError(NO_TOKEN)
    return Form(fields)


async def _read_multipart(request: web.Request, csrf_ok: Callable[[str | None], bool],
                          stall_s: float,
                          on_file: Callable[[BodyPartReader], Awaitable[T]] | None) -> Form[T]:
    reader = await request.multipart()
    form: Form[T] = Form()
    token_ok = csrf_ok(request.headers.get("X-CSRF-Token"))
    count = total = 0
    while (part := await read_chunk(reader.next, stall_s)) is not None:
        if not isinstance(part, BodyPartReader):      # a nested multipart: no page sends one
            raise FormRefusedError(GARBLED)
        if not token_ok and part.name != "csrf":
            raise FormRefusedError(NO_TOKEN)        # the token first: nothing before it is read
        if part.filename and part.name == "file" and on_file is not None:
            if form.file is not None:
                raise FormRefusedError(TWO_FILES)
            form.file = await on_file(part)
            continue
        count += 1
        if count > MAX_FIELDS:
            raise FormRefusedError(TOO_MANY)
        value = await _read_field(part, stall_s)
        total += len(value)
        if total > MAX_FIELDS_BYTES:
            raise FormRefusedError(TOO_LARGE)
        text = value.decode("utf-8", "replace")
        if not token_ok:
            if not csrf_ok(text):
                raise FormRefusedError(NO_TOKEN)
            token_ok = True
        elif part.name:
            form.fields.setdefault(part.name, text)
    if not token_ok:
        raise FormRefusedError(NO_TOKEN)
    return form


async def _read_field(part: BodyPartReader, stall_s: float) -> bytes:
    value = b""
    while chunk := await read_chunk(lambda: part.read_chunk(MAX_FIELD_BYTES), stall_s):
        value += chunk
        if len(value) > MAX_FIELD_BYTES:
            raise FormRefusedError(TOO_LARGE)
    return value
