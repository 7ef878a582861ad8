"""Safe HTML building: everything is escaped unless it is already ``Html``.

Pages are ``string.Template`` files under ``templates/``; values put into them are escaped
by default, so a hostile cell (``<script>``, ``"onload=``, ``=HYPERLINK(...)``) shows as the
text it is.  Only fragments built here (``Html``) go in unescaped.
"""

from __future__ import annotations

import html
import string
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import Any


class Html(str):
    """Text that is already HTML (built from escaped parts); inserted as it is."""

    __slots__ = ()


def esc(value: Any) -> Html:
    """``value`` as HTML text: ``Html`` unchanged, ``None`` empty, anything else escaped."""
    if isinstance(value, Html):
        return value
    if value is None:
        return Html("")
    return Html(html.escape(str(value), quote=True))


def tag(name: str, content: Any = "", /, **attrs: Any) -> Html:
    """``<name attr="...">content</name>``; attribute names use ``_`` for ``-`` and a
    trailing ``_`` for Python keywords (``class_``); ``True`` gives a bare attribute and
    ``None``/``False`` leaves it out."""
    parts = [name]
    for key, value in attrs.items():
        attr = key.rstrip("_").replace("_", "-")
        if value is None or value is False:
            continue
        parts.append(attr if value is True else f'{attr}="{esc(value)}"')
    return Html(f"<{' '.join(parts)}>{esc(content)}</{name}>")


def join(parts: Iterable[Any], sep: str = "") -> Html:
    return Html(sep.join(esc(p) for p in parts))


@cache
def _template(name: str) -> string.Template:
    text = resources.files(__package__).joinpath("templates", name).read_text(encoding="utf-8")
    return string.Template(text)


def render(template: str, /, **values: Any) -> Html:
    """Fill ``templates/<template>``: every value escaped unless it is ``Html``."""
    return Html(_template(template).substitute({k: esc(v) for k, v in values.items()}))
