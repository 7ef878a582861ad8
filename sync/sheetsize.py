"""How much text a workbook sheet expands to, measured before the reader materialises it.

A cell of an .xlsx sheet that refers to a shared string gets its own copy of that string when
the sheet is read, so one 32 MB string referred to by 100 cells, a file of a few kilobytes,
takes gigabytes.  An .ods cell repeated across columns and rows is copied the same way.  The
unpacked-size and cell-count checks never see it, so this module streams the package's XML
(shared-string lengths, the sheet's references to them, inline strings, repeated .ods cells
and spaces), keeping only counts, and refuses a sheet whose cells would hold more text than
``text_limit`` allows for the parts it is read from.

The XML is read in pieces of a megabyte.  A sheet is first cleared, where it can be, by
counting bytes (most are: ``TextMarks``, counted on the pass of ``sync.load.guards`` that
measures the sheet's span); only a sheet that cannot be cleared so is parsed, with expat, its
character data counted as it arrives and never joined, so the check stays within a few
megabytes whatever the file holds.  A document type declaration (the way to entity
expansion) is refused: no spreadsheet program writes one, and the reader calls such a part
damaged.
"""

from __future__ import annotations

import re
import zipfile
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any
from xml.etree import ElementTree
from xml.parsers import expat

from sync.errors import InputError, _RefusedPartError, _TooMuchTextError
from sync.report.parts import EXCEL_MAX_ROWS, target_part
from sync.zipdeflate import open_member

#: The most cell text (UTF-8 bytes) a sheet may expand to: a kilobyte a row of a full-height
#: sheet.  A routing line's ids, numbers, names and notes take about 200 bytes; a text bomb,
#: a few kilobytes whose cells all show one huge string, takes gigabytes.  At a kilobyte a row
#: even the first, roughest look clears a full-height sheet of inline strings.
MAX_CELL_TEXT_BYTES = EXCEL_MAX_ROWS * 1024
#: ... and at most four times what the sheet and its shared strings unpack to (a cell's XML
#: outweighs the text it shows; a text bomb shows thousands of times its own size), but
#: never less than 64 MB: text costs several times its size once read, so a small file
#: stays far below a gigabyte.
TEXT_PER_UNPACKED_BYTE = 4
MIN_TEXT_LIMIT = 64 << 20
#: A shared-string table with more entries than this is refused: the reader keeps every
#: entry, however short.  Eight a row of a full-height sheet: a line's id, its names and
#: notes are the strings that differ from row to row.
MAX_SHARED_STRINGS = EXCEL_MAX_ROWS * 8

_READ_BYTES = 1 << 20
_SHARED_STRINGS_TYPE = "/sharedStrings"
_ODS_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_ODS_TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"


def text_limit(unpacked: int) -> int:
    """The most text the cells of a workbook that unpacks to ``unpacked`` bytes may hold."""
    return min(MAX_CELL_TEXT_BYTES, max(MIN_TEXT_LIMIT, TEXT_PER_UNPACKED_BYTE * unpacked))


def parts_text_limit(package: zipfile.ZipFile, *parts: str | None) -> int:
    """``text_limit`` by what the parts the reader reads for a sheet (the sheet's own, the
    shared strings) unpack to: other parts are no text, and a file padded with them would
    otherwise raise its own limit."""
    members = {member.filename: member.file_size for member in package.infolist()}
    return text_limit(sum(members.get(part, 0) for part in set(parts) if part))


def too_much_text(name: str, limit: int) -> InputError:
    """The one sentence for a sheet whose cells hold more than ``limit`` bytes of text."""
    return InputError(f"{name}: cells hold more than {limit >> 20:,} MB of text; a routing "
                      "sheet needs far less.")


def too_many_strings(name: str) -> InputError:
    """The one sentence for a workbook with more shared strings than MAX_SHARED_STRINGS."""
    return InputError(f"{name} holds more than {MAX_SHARED_STRINGS:,} shared strings, far more "
                      "than a routing sheet needs; it is refused.")


@dataclass(slots=True)
class TextMarks:
    """What the first, roughest look at a sheet's text needs, counted by the pass that
    measures the sheet's span (``sync.load.guards``): its value and inline-text elements,
    its size, and whether any cell may hold inline text."""

    values: int = 0
    inline_texts: int = 0
    size: int = 0
    inline: bool = False

    def add(self, xml: bytes | bytearray) -> None:
        """Count a piece of the sheet's XML cut where a tag starts (no mark is split); the
        caller adds the bytes it read to ``size``."""
        self.values += xml.count(b"<v") + xml.count(b":v")
        # A floor may miss some: prefixed ones (<x:is>) leave the span to the closer look.
        self.inline_texts += xml.count(b"<is")
        self.inline = self.inline or b"str" in xml or b"Str" in xml  # t="str", "inlineStr"


def check_xlsx_text(package: zipfile.ZipFile, name: str, sheet_name: str,
                    sheet_part: str, marks: TextMarks) -> None:
    """Refuse the sheet ``sheet_part`` of an .xlsx package if its cells, shared strings
    counted once per reference, hold more text than ``parts_text_limit``.  ``marks``: the
    sheet's, counted as its span was measured."""
    limit = parts_text_limit(package, sheet_part, _shared_strings_part(package))
    try:
        lengths = _shared_lengths(package, name, limit)
        total = sum(lengths)
        if total > limit:
            raise _TooMuchTextError
        # Three looks, each slower and closer than the one before; most sheets pass the first.
        if (total + _rough_bound(marks, lengths) > limit
                and total + _upper_bound(package, sheet_part, lengths) > limit):
            _sheet_text(package, sheet_part, lengths, total, limit)
    except _TooMuchTextError:
        raise too_much_text(name, limit) from None
    except _RefusedPartError:
        raise _damaged(name, sheet_name) from None


def check_ods_text(package: zipfile.ZipFile, name: str) -> None:
    """Refuse an .ods package whose cells, each counted as many times as its column and row
    repeats copy it, hold more text than ``parts_text_limit`` (of the part holding every
    table).  Every table counts: the reader reads them all when it opens the file."""
    limit = parts_text_limit(package, "content.xml")
    try:
        _ods_text(package, limit)
    except _TooMuchTextError:
        raise too_much_text(name, limit) from None
    except _RefusedPartError:
        raise InputError(f"{name} is damaged or not a readable ods workbook; save it again "
                         "from Excel.") from None


def _damaged(name: str, sheet_name: str) -> InputError:
    """A part with a document type declaration, in the words the reader uses for damage."""
    return InputError(f'{name}: sheet "{sheet_name[:40]}" is damaged and cannot be read; save '
                      "the file again from Excel.")


def _local(tag: str) -> str:
    return tag.rpartition(":")[2]


def _parse(stream: IO[bytes], start: Callable[[str, dict[str, str]], None],
           end: Callable[[str], None], text: Callable[[str], None], *,
           namespaces: bool = False) -> None:
    """Feed a part to expat a megabyte at a time; a malformed part just ends the count (the
    reader meets the same damage and says so)."""
    parser = expat.ParserCreate(namespace_separator=" " if namespaces else None)
    parser.buffer_text = False             # pieces as they come: a huge text is never joined

    def refuse(*_: Any) -> None:
        raise _RefusedPartError

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        while chunk := stream.read(_READ_BYTES):
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except expat.ExpatError:
        return


def _text_bytes(piece: str) -> int:
    return len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogatepass"))


def _shared_strings_part(package: zipfile.ZipFile) -> str | None:
    names = set(package.namelist())
    try:
        rels = ElementTree.fromstring(package.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError):
        rels = None
    if rels is not None:
        for element in rels.iter():
            if element.get("Type", "").endswith(_SHARED_STRINGS_TYPE):
                part = target_part("xl/workbook.xml", element.get("Target", ""))
                if part in names:
                    return part
    return "xl/sharedStrings.xml" if "xl/sharedStrings.xml" in names else None


def _shared_lengths(package: zipfile.ZipFile, name: str, limit: int) -> array[int]:
    """The UTF-8 length of every shared string's text, in table order."""
    lengths: array[int] = array("q")
    part = _shared_strings_part(package)
    if part is None:
        return lengths
    depth_t = 0

    def start(tag: str, _attrs: dict[str, str]) -> None:
        nonlocal depth_t
        local = _local(tag)
        if local == "si":
            if len(lengths) >= MAX_SHARED_STRINGS:
                raise too_many_strings(name)
            lengths.append(0)
        elif local == "t":
            depth_t += 1

    def end(tag: str) -> None:
        nonlocal depth_t
        if _local(tag) == "t":
            depth_t -= 1

    def text(piece: str) -> None:
        if depth_t and lengths:
            lengths[-1] += _text_bytes(piece)
            if lengths[-1] > limit:
                raise _TooMuchTextError

    with open_member(package, part) as stream:
        _parse(stream, start, end, text)
    return lengths


def _rough_bound(marks: TextMarks, lengths: array[int]) -> int:
    """At least the text the sheet's cells hold: every value element taken to refer to the
    longest shared string, and all of the part taken to be inline text if any cell may hold
    some."""
    return marks.values * max(lengths, default=0) + (marks.size if marks.inline else 0)


#: A shared-string cell as spreadsheet programs write it: the type, then the value element
#: with the string's index.  None of these holds the start of a cell or row, so cutting the
#: XML where one starts never splits them.
_SHARED_VALUE = re.compile(rb"""\st\s*=\s*["']s["'][^<>]*>\s*<(?:[\w.-]+:)?v>\s*(\d{1,10})\s*</""")
_SHARED_MARK = re.compile(rb"""\st\s*=\s*["']s["']""")
#: The text of a text or value element: where every string a cell shows is written.
_ELEMENT_TEXT = re.compile(rb"<(?:[\w.-]+:)?[tv](?:\s[^>]*)?>([^<]*)</")
_TEXT_START = re.compile(rb"<(?:[\w.-]+:)?[tv](?:\s[^>]*)?>")
_CUT = re.compile(rb"<(?:[\w.-]+:)?(?:c|row)[\s>/]")
_UNSURE = float("inf")


def _upper_bound(package: zipfile.ZipFile, part: str, lengths: array[int]) -> float:
    """At least the text the sheet's cells hold, from a look at the bytes: the shared strings
    its cells refer to (in the usual form) and the text of its text and value elements.
    Infinite when that look cannot vouch for the sheet (a reference in an unusual form,
    CDATA, megabytes without a cell): it must then be parsed, which takes many times
    longer."""
    total = 0
    marks = found = 0
    with open_member(package, part) as stream:
        pending = b""
        while True:
            chunk = stream.read(_READ_BYTES)
            if chunk and b"<" not in chunk and chunk.isspace():
                # A megabyte of blanks: text if it continues a text or value element (then
                # counted), else between or inside tags; either way kept as one blank.
                last = pending.rfind(b"<")
                if last >= 0 and _TEXT_START.match(pending, last):
                    total += len(chunk)
                pending += b" "
                continue
            data = pending + chunk
            cut = len(data)
            if chunk:                     # keep the last cell or row from its start for later
                cut = data.rfind(b"<")
                while cut >= 0 and not _CUT.match(data, cut):
                    cut = data.rfind(b"<", 0, cut)
                if cut < 0:
                    if len(data) > 4 * _READ_BYTES:
                        return _UNSURE
                    pending = data
                    continue
            piece, pending = data[:cut], data[cut:]
            if b"<![CDATA[" in piece:
                return _UNSURE
            indices = _SHARED_VALUE.findall(piece)
            found += len(indices)
            marks += len(_SHARED_MARK.findall(piece))
            total += sum(lengths[i] if i < len(lengths) else 0 for i in map(int, indices))
            total += sum(map(len, _ELEMENT_TEXT.findall(piece)))
            if not chunk:
                break
    return total if found == marks else _UNSURE


_DIGITS = re.compile(r"\s*(\d{1,10})\s*")


@dataclass(slots=True)
class _CellState:
    """Where the parse of a sheet's XML is: the cell's type, and which element it is in."""

    type: str = ""           # the cell's t attribute ("s": a shared string's index)
    in_v: bool = False       # inside <v>, the value
    v: str = ""              # the text of <v> so far (kept for shared strings only)
    in_is: bool = False      # inside <is>, an inline string
    in_is_t: int = 0         # how deep inside <t> elements of the inline string


def _sheet_text(package: zipfile.ZipFile, part: str, lengths: array[int], total: int,
                limit: int) -> None:
    """Add the sheet's cell text to ``total`` (shared strings by reference, inline strings,
    formula strings), stopping with _TooMuchTextError as soon as it passes ``limit``."""
    state = _CellState()
    count = [total]

    def add(size: int) -> None:
        count[0] += size
        if count[0] > limit:
            raise _TooMuchTextError

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = _local(tag)
        if local == "c":
            state.type = attrs.get("t", "n")
        elif local == "v":
            state.in_v, state.v = True, ""
        elif local == "is":
            state.in_is = True
        elif local == "t" and state.in_is:
            state.in_is_t += 1

    def end(tag: str) -> None:
        local = _local(tag)
        if local == "v":
            state.in_v = False
            if state.type == "s":
                index = _DIGITS.fullmatch(state.v)
                if index is not None and int(index.group(1)) < len(lengths):
                    add(lengths[int(index.group(1))])
        elif local == "is":
            state.in_is = False
        elif local == "t" and state.in_is:
            state.in_is_t -= 1

    def text(piece: str) -> None:
        if state.in_v:
            if state.type == "s":
                if len(state.v) < 16:        # an index; anything longer is no index
                    state.v += piece
            elif state.type in ("str", "inlineStr"):
                add(_text_bytes(piece))
        elif state.in_is_t:
            add(_text_bytes(piece))

    with open_member(package, part) as stream:
        _parse(stream, start, end, text)


def _ods_text(package: zipfile.ZipFile, limit: int) -> None:
    row_tag = f"{_ODS_TABLE} table-row"
    cell_tags = {f"{_ODS_TABLE} table-cell", f"{_ODS_TABLE} covered-table-cell"}
    rows_repeat = f"{_ODS_TABLE} number-rows-repeated"
    columns_repeat = f"{_ODS_TABLE} number-columns-repeated"
    spaces, space_count = f"{_ODS_TEXT} s", f"{_ODS_TEXT} c"   # <text:s text:c="N"/>: N blanks
    state = {"rows": 1, "columns": 1, "cell": 0, "depth": 0, "total": 0}

    def repeat(attrs: dict[str, str], key: str) -> int:
        try:
            return max(1, int(attrs.get(key, "1")))
        except ValueError:
            return 1

    def start(tag: str, attrs: dict[str, str]) -> None:
        if state["depth"]:
            state["depth"] += 1
            if tag == spaces:
                add(repeat(attrs, space_count))
        elif tag in cell_tags:
            state["columns"] = repeat(attrs, columns_repeat)
            state["cell"], state["depth"] = 0, 1
        elif tag == row_tag:
            state["rows"] = repeat(attrs, rows_repeat)

    def end(_tag: str) -> None:
        if not state["depth"]:
            return
        state["depth"] -= 1
        if not state["depth"]:         # the cell ends: its text, as often as it is repeated
            state["total"] += state["cell"] * state["columns"] * state["rows"]

    def add(size: int) -> None:
        state["cell"] += size
        if state["cell"] * state["columns"] * state["rows"] + state["total"] > limit:
            raise _TooMuchTextError

    def text(piece: str) -> None:
        if state["depth"]:
            add(_text_bytes(piece))

    with open_member(package, "content.xml") as stream:
        _parse(stream, start, end, text, namespaces=True)
