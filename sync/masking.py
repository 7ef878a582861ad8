"""Masking secrets out of text a server sent back, before any of it is cut or shown.

A server's error page may quote the request back: the Cookie header (the token, a session
cookie), the login form (the PIN), plain or in some encoding.  ``Secrets`` knows every secret
of one client and replaces any run of a page's text that is a piece of one of them with
``***``:

* Every secret is looked for in each form a page may hold it in: plain, URL-encoded (``quote``
  and ``quote_plus``, upper- or lower-case hex, once or twice), JSON-escaped (``/`` as is and
  as ``\\/``), quoted as ``repr`` does, HTML-escaped, and base64 (standard and URL-safe).
  Base64 of a secret inside a longer encoded string, such as a whole ``Cookie:`` header,
  depends on where the secret falls in the 3-byte groups, so the secret's encodings from its
  1st, 2nd and 3rd byte are all looked for; the few characters at their ends mix the
  secret's bits with its neighbours'.
* A piece is any ``FRAGMENT`` or more characters of one of these forms, so a secret the server
  cut short, split with a tag or line break, or glued to another secret (a PIN inside a
  cookie value) is masked as well as a whole one.  Secrets shorter than ``FRAGMENT`` are
  masked where a form appears whole.
* Whitespace is skipped while matching pieces: a secret wrapped over lines leaves none.
* Masked runs are merged before they are replaced, so overlapping secrets never leave part of
  the longer one (the order in which secrets are masked does not matter).

Mask first, then cut: text cut to a length first may end inside a secret whose remaining
piece is too short to be recognised as one.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Iterable
from typing import TypeGuard
from urllib.parse import quote, quote_plus

#: A piece of a secret (in any of its forms) this long or longer is masked.
FRAGMENT = 8
#: Secrets shorter than this are not looked for: they would mask ordinary words.
MIN_SECRET = 3
MASK = "***"
#: Cookie values kept known (``Secrets.add``): two or three cookies of the last few logins.
RECENT = 16

_HEX_RE = re.compile(r"%[0-9A-F]{2}")
_WORD_RE = re.compile(r"\S+")
#: Pieces are looked for only next to one of these runs of a form (see ``_piece_starts``);
#: a piece of FRAGMENT holds one whole as long as FRAGMENT >= 2 * _ANCHOR - 1.
_ANCHOR = 4


def _usable(value: str | None) -> TypeGuard[str]:
    return value is not None and len(value) >= MIN_SECRET


def encoded_forms(secret: str) -> set[str]:
    """The forms ``secret`` may take in a server's answer (``secret`` itself included)."""
    in_json = json.dumps(secret)[1:-1]
    forms = {secret, in_json, in_json.replace("/", "\\/"),     # PHP writes "/" as "\/"
             json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
             html.escape(secret), html.escape(secret, quote=False)}
    for url_form in (quote(secret, safe=""), quote(secret), quote_plus(secret),
                     quote(quote(secret, safe=""), safe="")):
        forms |= {url_form, _HEX_RE.sub(lambda m: m.group().lower(), url_form)}
    raw = secret.encode()
    for start in range(3):
        if len(raw) - start >= 3:
            forms |= {base64.b64encode(raw[start:]).decode().rstrip("="),
                      base64.urlsafe_b64encode(raw[start:]).decode().rstrip("=")}
    return forms


class Secrets:
    """The secrets of one client and ``mask``: the token and PIN, and the cookie values of the
    last few logins (``add``)."""

    def __init__(self, values: Iterable[str | None] = (), *, recent: int = RECENT) -> None:
        self._fixed = list(dict.fromkeys(v for v in values if _usable(v)))
        self._recent: list[str] = []
        self._keep = recent
        self._build()

    def __repr__(self) -> str:
        return f"Secrets({len(self._fixed) + len(self._recent)} known)"

    def __bool__(self) -> bool:
        return bool(self._fixed or self._recent)

    def add(self, values: Iterable[str | None]) -> None:
        """Know these values too (a login's cookies).  Only the last ``recent`` values added
        are kept, and always a whole batch: a long run logs in again and again, and a late
        answer quotes at most a session or two ago, not hundreds."""
        known = {*self._fixed, *self._recent}
        batch = list(dict.fromkeys(v for v in values if _usable(v) and v not in known))
        if not batch:
            return
        self._recent = (self._recent + batch)[-max(self._keep, len(batch)):]
        self._build()

    def _build(self) -> None:
        self._pieces: set[str] = set()      # every FRAGMENT-long piece of a long form
        self._whole: set[str] = set()       # forms shorter than FRAGMENT
        self._anchors: set[str] = set()     # every _ANCHOR-th run of _ANCHOR of a long form
        for value in (*self._fixed, *self._recent):
            for form in encoded_forms(value):
                compact = "".join(form.split())
                if len(compact) < FRAGMENT:
                    self._whole.add(form)
                else:
                    self._pieces.update(compact[i:i + FRAGMENT]
                                        for i in range(len(compact) - FRAGMENT + 1))
                    self._anchors.update(compact[i:i + _ANCHOR]
                                         for i in range(0, len(compact) - _ANCHOR + 1, _ANCHOR))

    def mask(self, text: str) -> str:
        """``text`` with every piece of a secret replaced by ``***``."""
        if not self or not text:
            return text
        hidden = bytearray(len(text))
        # Pieces are matched with the whitespace taken out, so that a secret a page wrapped
        # over lines (base64 usually is) or split with tags leaves nothing on either side of
        # the break.
        compact = "".join(text.split())
        starts = self._piece_starts(compact)
        if starts:
            kept = [i for run in _WORD_RE.finditer(text) for i in range(run.start(), run.end())]
            for start in starts:
                first, last = kept[start], kept[start + FRAGMENT - 1]
                hidden[first:last + 1] = b"\1" * (last + 1 - first)
        # Short secrets only as they are: across blanks they would match ordinary numbers.
        for form in self._whole:
            start = text.find(form)
            while start != -1:
                hidden[start:start + len(form)] = b"\1" * len(form)
                start = text.find(form, start + 1)
        out: list[str] = []
        done = 0
        for run in re.finditer(b"\1+", hidden):
            out += [text[done:run.start()], MASK]
            done = run.end()
        out.append(text[done:])
        return "".join(out)

    def _piece_starts(self, compact: str) -> list[int]:
        """Where a piece of a secret starts in ``compact``.  Every piece holds one of the
        anchors whole, at most ``_ANCHOR - 1`` after its start, so only the few places next
        to an anchor (found at C speed) are looked at, not every character of the text."""
        near: set[int] = set()
        for anchor in self._anchors:
            at = compact.find(anchor)
            while at != -1:
                near.update(range(max(0, at - _ANCHOR + 1), at + 1))
                at = compact.find(anchor, at + 1)
        return sorted(i for i in near if compact[i:i + FRAGMENT] in self._pieces)
