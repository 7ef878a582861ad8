"""Cell values as SpreadsheetML text: the hot path of report writing.

Every text is written as an inline string (``t="inlineStr"``), which Excel and LibreOffice
show as text and never evaluate, whatever it starts with.  Text that *looks* like a formula
(``schema.is_formula_like``: ``=``, ``+``, ``-``, ``@`` and their full-width forms, also after
leading blanks, or a tab or CR first) also gets a quote-prefix style, so it stays text even
when a planner edits the cell and presses Enter.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from decimal import Decimal
from functools import cache
from typing import Any

from sync.schema import FORMULA_START, is_formula_like

#: Excel refuses longer cell texts.
MAX_CELL_TEXT = 32_767
_TRUNCATED = " ...[truncated]"

# Characters XML 1.0 cannot carry (written as Excel's _xHHHH_ escape), CR (which XML parsers
# would turn into LF), the markup characters, and text that already looks like an escape.
_NEEDS_ESCAPE = re.compile(
    r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
_UNWRITABLE = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_FIRST_SERIAL_DATE = dt.datetime(1900, 3, 1)   # before it Excel's 1900 leap-year bug applies
_MAX_EXACT_INT = 10**15                         # Excel keeps 15 significant digits


#: First characters that send a text down the careful path (formula-like or blank-led).
_CAREFUL_FIRST = frozenset(FORMULA_START) | {" "}


def is_plain_text(text: str) -> bool:
    """Text that goes into an inline string exactly as it is: no escaping, no quote prefix,
    no truncation (``value_cell`` writes it so; ``text_cell`` does the rest)."""
    return (bool(text) and text[0] not in _CAREFUL_FIRST and text[-1] != " "
            and len(text) <= MAX_CELL_TEXT and text.isprintable() and "&" not in text
            and "<" not in text and ">" not in text and "_x" not in text)


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "_":
        return "_x005F_"      # a literal "_xHHHH_" must not be read back as an escape
    return f"_x{ord(char):04X}_"


def writable_text(text: str) -> str:
    """Text as a cell can hold it: cut to Excel's limit, unwritable characters escaped the
    way Excel itself writes them (for writers that do the XML escaping themselves)."""
    if len(text) > MAX_CELL_TEXT:
        text = text[: MAX_CELL_TEXT - len(_TRUNCATED)] + _TRUNCATED
    if _UNWRITABLE.search(text):
        text = _UNWRITABLE.sub(_escape_char, text)
    return text


def escape_text(text: str) -> str:
    """Text content for ``<t>``: markup escaped, CR kept, unwritable characters escaped."""
    if len(text) > MAX_CELL_TEXT:
        text = text[: MAX_CELL_TEXT - len(_TRUNCATED)] + _TRUNCATED
    if (text.isprintable() and "&" not in text and "<" not in text and ">" not in text
            and "_x" not in text) or not _NEEDS_ESCAPE.search(text):
        return text
    text = _UNWRITABLE.sub(_escape_char, text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def escape_attr(text: str) -> str:
    return escape_text(str(text)).replace('"', "&quot;").replace("\n", "&#10;")


@cache
def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    if not 1 <= index <= 16_384:
        raise ValueError(f"column {index} is outside a worksheet")
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


@cache
def column_index(letters: str) -> int:
    """A -> 1, AA -> 27."""
    index = 0
    for char in letters.upper():
        index = index * 26 + ord(char) - 64
    return index


def excel_serial(value: dt.datetime | dt.date | dt.time) -> float | None:
    """Excel's day number for a date/time, or None when Excel cannot show it as a date."""
    if isinstance(value, dt.datetime):
        moment = value.replace(tzinfo=None)
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    else:
        return (value.hour * 3600 + value.minute * 60 + value.second
                + value.microsecond / 1e6) / 86400
    if moment < _FIRST_SERIAL_DATE:
        return None
    delta = moment - _EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400


class RowStyles:
    """Style ids for the kinds of cell one row can hold (all sharing the row's fill)."""

    __slots__ = ("plain", "quoted", "date", "datetime", "time")

    def __init__(self, plain: int, quoted: int, date: int, datetime: int, time: int):
        self.plain = plain
        self.quoted = quoted
        self.date = date
        self.datetime = datetime
        self.time = time


def text_cell(ref: str, text: str, style: int) -> str:
    body = escape_text(text)
    space = ' xml:space="preserve"' if body[:1].isspace() or body[-1:].isspace() else ""
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}"{s} t="inlineStr"><is><t{space}>{body}</t></is></c>'


def empty_cell(ref: str, style: int) -> str:
    return f'<c r="{ref}" s="{style}"/>' if style else ""


def value_cell(ref: str, value: Any, styles: RowStyles) -> str:
    """One cell for any value a sheet reader or the pipeline hands over ("" when blank and
    unstyled).  Numbers stay numbers, dates get a date format, everything else is text."""
    kind = type(value)
    if kind is str:
        if is_plain_text(value):   # most cells (ids, names): written as they are
            s = f' s="{styles.plain}"' if styles.plain else ""
            return f'<c r="{ref}"{s} t="inlineStr"><is><t>{value}</t></is></c>'
        if not value:
            return empty_cell(ref, styles.plain)
        style = styles.quoted if is_formula_like(value) else styles.plain
        return text_cell(ref, value, style)
    if value is None:
        return empty_cell(ref, styles.plain)
    if kind is bool:
        s = f' s="{styles.plain}"' if styles.plain else ""
        return f'<c r="{ref}"{s} t="b"><v>{int(value)}</v></c>'
    if kind is int or kind is float or isinstance(value, (numbers.Real, Decimal)):
        return _number_cell(ref, value, styles)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return _date_cell(ref, value, styles)
    if _is_missing(value):
        return empty_cell(ref, styles.plain)
    text = str(value)
    style = styles.quoted if is_formula_like(text) else styles.plain
    return text_cell(ref, text, style) if text else empty_cell(ref, styles.plain)


def _number_cell(ref: str, value: numbers.Real | Decimal, styles: RowStyles) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value):
            return empty_cell(ref, styles.plain)   # pandas' "missing"
        return text_cell(ref, str(value), styles.plain)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return empty_cell(ref, styles.plain) if value.is_nan() else text_cell(
                ref, str(value), styles.plain)
        if abs(value) >= _MAX_EXACT_INT or value != value.quantize(Decimal("1e-15")):
            return text_cell(ref, format(value, "f"), styles.plain)  # Excel would round it
        number = format(value.normalize(), "f")
    elif isinstance(value, numbers.Integral):
        whole = int(value)
        if abs(whole) >= _MAX_EXACT_INT:
            return text_cell(ref, str(value), styles.plain)        # e.g. a long barcode
        number = str(whole)
    else:
        number = repr(float(value))
    s = f' s="{styles.plain}"' if styles.plain else ""
    return f'<c r="{ref}"{s}><v>{number}</v></c>'


def _date_cell(ref: str, value: dt.datetime | dt.date | dt.time, styles: RowStyles) -> str:
    if _is_missing(value):                       # pandas.NaT is a datetime subclass
        return empty_cell(ref, styles.plain)
    serial = excel_serial(value)
    if serial is None:
        return text_cell(ref, value.isoformat(), styles.plain)
    if isinstance(value, dt.datetime):
        style = styles.datetime if (value.hour, value.minute, value.second,
                                    value.microsecond) != (0, 0, 0, 0) else styles.date
    elif isinstance(value, dt.date):
        style = styles.date
    else:
        style = styles.time
    return f'<c r="{ref}" s="{style}"><v>{serial!r}</v></c>'


def _is_missing(value: Any) -> bool:
    try:
        return bool(value != value)               # NaN, NaT
    except (TypeError, ValueError):
        return type(value).__name__ == "NAType"   # pandas.NA refuses bool()
