"""The cell styles (``xl/styles.xml``) of a report: built from scratch, or grown on top of a
planner's own stylesheet without touching any style it already has.

A style is an index into ``cellXfs``.  New styles are derived from an existing one (keeping
its font, borders, alignment and number format) by swapping the fill, adding a quote prefix,
a bold font or a number format; each derived style is made once and reused.
"""

from __future__ import annotations

import re
from typing import Final

from .palette import OWN_COLOURS

KEEP: Final = object()      # derive(): leave the fill as it is

_SECTION = {
    name: re.compile(rf"<{name}\b[^>]*?(?:/>|>(.*?)</{name}>)", re.S)
    for name in ("numFmts", "fonts", "fills", "borders", "cellXfs")
}
_ITEM = {
    "numFmts": re.compile(r"<numFmt\b[^>]*?(?:/>|>.*?</numFmt>)", re.S),
    "fonts": re.compile(r"<font\b[^>]*?(?:/>|>.*?</font>)", re.S),
    "fills": re.compile(r"<fill\b[^>]*?(?:/>|>.*?</fill>)", re.S),
    "cellXfs": re.compile(r"<xf\b[^>]*?(?:/>|>.*?</xf>)", re.S),
}
_ATTR = re.compile(r'\s([\w:]+)="([^"]*)"')

FRESH_FONT = '<font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
TIME_FORMAT = "hh:mm:ss"


def attrs_of(element: str) -> dict[str, str]:
    """Attributes of an element's start tag."""
    start = element[: element.index(">") + 1]
    return dict(_ATTR.findall(start))


def with_attrs(element: str, **values: str | None) -> str:
    """The element with attributes set (value) or removed (None) in its start tag."""
    end = element.index(">")
    closing = end
    if element[end - 1] == "/":
        closing = end - 1
    start, rest = element[:closing], element[closing:]
    for name, value in values.items():
        start = re.sub(rf'\s{re.escape(name)}="[^"]*"', "", start)
        if value is not None:
            start += f' {name}="{value}"'
    return start + rest


class StyleBook:
    """``cellXfs`` and the fonts, fills and number formats they use."""

    def __init__(self, source: str | None = None):
        self._source = source
        self._new: dict[str, list[str]] = {"numFmts": [], "fonts": [], "fills": [], "cellXfs": []}
        self._cache: dict[tuple[object, ...], int] = {}
        if source is None:
            self.fonts = [FRESH_FONT]
            self.fills = ['<fill><patternFill patternType="none"/></fill>',
                          '<fill><patternFill patternType="gray125"/></fill>']
            self.xfs = ['<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>']
            self.num_fmts: dict[int, str] = {}
        else:
            self.fonts = self._items(source, "fonts")
            self.fills = self._items(source, "fills")
            self.xfs = self._items(source, "cellXfs")
            self.num_fmts = {int(attrs_of(x)["numFmtId"]): attrs_of(x).get("formatCode", "")
                             for x in self._items(source, "numFmts", required=False)}
            if not (self.fonts and self.fills and self.xfs):
                raise ValueError("the workbook's stylesheet has no fonts, fills or cell styles")
        self._fill_colours = [_solid_colour(f) for f in self.fills]

    @staticmethod
    def _items(source: str, section: str, *, required: bool = True) -> list[str]:
        match = _SECTION[section].search(source)
        if match is None:
            if required:
                raise ValueError(f"the workbook's stylesheet has no <{section}>")
            return []
        return _ITEM[section].findall(match.group(1) or "")

    # ------------------------------------------------------------------ building blocks

    def _add(self, section: str, items: list[str], xml: str) -> int:
        items.append(xml)
        self._new[section].append(xml)
        return len(items) - 1

    def solid_fill(self, rgb: str) -> int:
        key = ("fill", rgb)
        if key not in self._cache:
            xml = (f'<fill><patternFill patternType="solid"><fgColor rgb="FF{rgb}"/>'
                   f'<bgColor indexed="64"/></patternFill></fill>')
            self._cache[key] = self._add("fills", self.fills, xml)
            self._fill_colours.append(rgb.upper())
        return self._cache[key]

    def bold_font(self, size: float | None = None) -> int:
        """The workbook's default font, bold (and resized)."""
        return self.font(bold=True, size=size)

    def font(self, *, bold: bool = False, size: float | None = None,
             colour: str | None = None) -> int:
        """The workbook's default font, bold, resized or coloured (RRGGBB) as asked."""
        key = ("font", bold, size, colour)
        if key not in self._cache:
            base = self.fonts[0]
            if base.endswith("/>") and "</font>" not in base:
                base = base[:-2] + "></font>"
            head, body = base[: base.index(">") + 1], base[base.index(">") + 1:]
            prefix = ""
            if bold:
                body = re.sub(r"<b\b[^>]*/>", "", body)
                prefix += "<b/>"
            if size is not None:
                body = re.sub(r"<sz\b[^>]*/>", "", body)
                prefix += f'<sz val="{size:g}"/>'
            if colour is not None:
                body = re.sub(r"<color\b[^>]*/>", "", body)
                prefix += f'<color rgb="FF{colour}"/>'
            body = prefix + body
            self._cache[key] = self._add("fonts", self.fonts, head + body)
        return self._cache[key]

    def num_fmt(self, code: str) -> int:
        for number, existing in self.num_fmts.items():
            if existing == code:
                return number
        number = max([163, *self.num_fmts]) + 1
        self.num_fmts[number] = code
        self._new["numFmts"].append(f'<numFmt numFmtId="{number}" formatCode="{code}"/>')
        return number

    # ------------------------------------------------------------------ styles

    def derive(self, base: int = 0, *, fill: object = KEEP, font: int | None = None,
               num_fmt: int | None = None, quote: bool = False, wrap: bool = False) -> int:
        """A style like ``base`` with another fill (an RRGGBB colour, or None for no fill),
        font, number format, a quote prefix, or text wrapped and set at the cell's top."""
        if base >= len(self.xfs):
            base = 0
        key = ("xf", base, fill, font, num_fmt, quote, wrap)
        if key in self._cache:
            return self._cache[key]
        changes: dict[str, str | None] = {}
        if fill is None:
            changes.update(fillId="0", applyFill=None)
        elif fill is not KEEP:
            changes.update(fillId=str(self.solid_fill(str(fill))), applyFill="1")
        if font is not None:
            changes.update(fontId=str(font), applyFont="1")
        if num_fmt is not None:
            changes.update(numFmtId=str(num_fmt), applyNumberFormat="1")
        if quote:
            changes.update(quotePrefix="1")
        if wrap:
            changes.update(applyAlignment="1")
        if not changes:
            return base
        xf = with_attrs(self.xfs[base], **changes)
        if wrap:
            xf = _with_wrap(xf)
        self._cache[key] = self._add("cellXfs", self.xfs, xf)
        return self._cache[key]

    def fill_colour(self, xf: int) -> str | None:
        """RRGGBB of a style's solid fill; "" for another kind of fill; None for no fill."""
        if xf >= len(self.xfs):
            return None
        fill_id = int(attrs_of(self.xfs[xf]).get("fillId", "0"))
        return self._fill_colours[fill_id] if fill_id < len(self._fill_colours) else None

    def planner_filled(self, xf: int) -> bool:
        """True when a style carries a fill of the planner's own (not one this report paints)."""
        colour = self.fill_colour(xf)
        return colour is not None and colour not in OWN_COLOURS

    # ------------------------------------------------------------------ output

    def xml(self) -> str:
        """The whole stylesheet (new workbooks)."""
        if self._source is not None:
            return self._patched(self._source)
        num_fmts = "".join(self._new["numFmts"])
        parts = [
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">',
            f'<numFmts count="{len(self._new["numFmts"])}">{num_fmts}</numFmts>'
            if num_fmts else "",
            f'<fonts count="{len(self.fonts)}">{"".join(self.fonts)}</fonts>',
            f'<fills count="{len(self.fills)}">{"".join(self.fills)}</fills>',
            '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border>'
            '</borders>',
            '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
            '</cellStyleXfs>',
            f'<cellXfs count="{len(self.xfs)}">{"".join(self.xfs)}</cellXfs>',
            '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
            '</cellStyles><dxfs count="0"/>'
            '<tableStyles count="0" defaultTableStyle="TableStyleMedium9" '
            'defaultPivotStyle="PivotStyleLight16"/></styleSheet>',
        ]
        return "".join(parts)

    def _patched(self, source: str) -> str:
        """The planner's stylesheet with the new entries appended to each section."""
        for section in ("cellXfs", "fills", "fonts", "numFmts"):
            new = self._new[section]
            if not new:
                continue
            match = _SECTION[section].search(source)
            if match is None:   # only numFmts may be missing; it goes first in the stylesheet
                block = f'<numFmts count="{len(new)}">{"".join(new)}</numFmts>'
                at = source.index("<fonts")
                source = source[:at] + block + source[at:]
                continue
            element = match.group(0)
            total = len(_ITEM[section].findall(match.group(1) or "")) + len(new)
            if element.endswith("/>"):
                grown = with_attrs(element[:-2] + ">", count=str(total)) + "".join(new)
                grown += f"</{section}>"
            else:
                closing = element.rindex("</")
                grown = with_attrs(element[:closing], count=str(total))
                grown += "".join(new) + element[closing:]
            source = source[: match.start()] + grown + source[match.end():]
        return source


def _with_wrap(xf: str) -> str:
    """An ``<xf>`` whose alignment wraps text and sets it at the top (replacing any other)."""
    alignment = '<alignment vertical="top" wrapText="1"/>'
    xf = re.sub(r"<alignment\b[^>]*?(?:/>|>.*?</alignment>)", "", xf, flags=re.S)
    if xf.endswith("/>"):
        return xf[:-2] + f">{alignment}</xf>"
    return xf.replace(">", ">" + alignment, 1)


def _solid_colour(fill: str) -> str | None:
    """RRGGBB of a solid fill, "" for any other visible fill, None for no fill."""
    if "<gradientFill" in fill:
        return ""
    pattern = re.search(r'patternType="(\w+)"', fill)
    if pattern is None or pattern.group(1) == "none":
        return None
    rgb = re.search(r'<fgColor\b[^>]*\brgb="([0-9A-Fa-f]{6,8})"', fill)
    if pattern.group(1) == "solid" and rgb:
        return rgb.group(1)[-6:].upper()
    return ""
