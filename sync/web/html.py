"""The page's HTML: Jinja2 templates under ``templates/``, autoescaped.

Every value a template prints is escaped unless it is already ``Markup`` (a template's or a
macro's own output), so a hostile cell (``<script>``, ``"onload=``, ``=HYPERLINK(...)``) shows
as the text it is.  Small fragments (a status pill, a table row, a link) are the macros of
``templates/parts.html``; ``parts()`` gives them to the views.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["Markup", "esc", "join", "parts", "render"]


def esc(value: Any) -> Markup:
    """``value`` as HTML text: ``Markup`` unchanged, ``None`` empty, anything else escaped
    (with ``html.escape``: quotes as ``&quot;`` and ``&#x27;``)."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[Any], sep: str = "") -> Markup:
    """The parts, each escaped unless it is ``Markup``, one after another."""
    return Markup(esc(sep).join(esc(p) for p in parts))


@cache
def _environment() -> jinja2.Environment:
    # ``finalize`` escapes each printed value first (None prints as nothing), the way the
    # page always escaped; autoescape then passes it on as Markup, and would still escape
    # anything that slipped past.  StrictUndefined: a template naming a value not given is
    # an error, not a blank.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sync.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default_for_string=True, default=True),
        finalize=esc,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, /, **values: Any) -> Markup:
    """Fill ``templates/<template>``: every value escaped unless it is ``Markup``."""
    return Markup(_environment().get_template(template).render(**values))


class Macros:
    """A template's macros by name, typed as what they give: with autoescape on, a macro
    returns ``Markup`` (Jinja2's own hints say ``str``, and name no macro)."""

    __slots__ = ("_module",)

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Callable[..., Markup]:
        macro: Callable[..., Markup] = getattr(self._module, name)
        return macro


@cache
def parts() -> Macros:
    """The macros of ``templates/parts.html`` (each returns ``Markup``)."""
    return Macros(_environment().get_template("parts.html").module)
