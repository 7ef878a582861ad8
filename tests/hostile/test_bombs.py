"""Text bombs: tiny files whose cells expand to gigabytes of text (one shared string referred
to by many cells, repeated .ods cells, inline strings, a huge CSV field) are refused before
the reader copies anything, with one sentence and exit 2, in bounded memory; a large sheet
of the ordinary kind still loads.

Each file is validated in a child process of its own (validate_driver.py), which reports
its own peak memory: a reader that blew up would fail the test, not kill pytest."""

from __future__ import annotations

import base64
import io
import json
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner
from hostile.validate_driver import validate_in_child

from sync import sheetsize
from sync.cli import main as cli
from sync.emulator import DEMO_TOKEN, generate_dataset
from sync.errors import InputError
from sync.load import guards, load_sheet
from sync.sheetsize import MIN_TEXT_LIMIT

MAX_RSS_MB = 600
#: Each bomb here is a small file: its limit is the floor.
TOO_MUCH = (f"cells hold more than {MIN_TEXT_LIMIT >> 20} MB of text; a routing sheet "
            "needs far less.")
PACKED = "holds a part packed more than 100 times tighter than any real workbook"
PRODUCT = "a0000001-0000-4000-8000-000000000001"
PROCESS = "b0000001-0000-4000-8000-000000000001"
_SST_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
SHEET = "xl/worksheets/sheet1.xml"
_SST_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
_ODS_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:'
    'names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry '
    'manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.'
    'spreadsheet"/><manifest:file-entry manifest:full-path="content.xml" '
    'manifest:media-type="text/xml"/></manifest:manifest>')


@dataclass(frozen=True)
class Big:
    """``size`` times ``char``, written a megabyte at a time: pytest's own memory stays small,
    and with it the peak a child it starts inherits in its count (Linux carries it over)."""

    char: str
    size: int

    def pieces(self) -> Iterator[bytes]:
        step = 1 << 20
        for at in range(0, self.size, step):
            yield self.char.encode() * min(step, self.size - at)


Text = str | Big


def _shared_string_xlsx(fx: ModuleType, path: Path, strings: list[Text],
                        rows: list[list[int | Text]], value: str = "<v>") -> Path:
    """An .xlsx whose cells refer to a shared-string table (an int is an index into it, a
    str an inline string); row 1 is the header.  ``value``: how a value element starts."""
    def sst() -> Iterator[Text]:
        yield (f'{fx._XML_HEAD}<sst xmlns="{_SST_NS}" count="{len(strings)}" '
               f'uniqueCount="{len(strings)}">')
        for text in strings:
            yield from ("<si><t>", _escaped(text), "</t></si>")
        yield "</sst>"

    def sheet() -> Iterator[Text]:
        head, tail = fx._sheet_xml("<rows/>").split("<rows/>")
        yield head + fx._text_row(1, [*fx._REQUIRED_HEADERS, "description"])
        for number, values in enumerate(rows, start=2):
            yield f'<row r="{number}">'
            for column, cell in enumerate(values):
                ref = f"{_letters(column)}{number}"
                if isinstance(cell, int):
                    yield f'<c r="{ref}" t="s">{value}{cell}</v></c>'
                else:
                    yield from (f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">',
                                _escaped(cell), "</t></is></c>")
            yield "</row>"
        yield tail

    skeleton = io.BytesIO()
    relationship = f'<Relationship Id="rId9" Type="{_SST_TYPE}" Target="sharedStrings.xml"/>'
    fx._raw_xlsx(skeleton, "", workbook_rels_extra=relationship)
    with zipfile.ZipFile(skeleton) as source, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for info in source.infolist():
            if info.filename != SHEET:
                package.writestr(info.filename, source.read(info))
        for name, parts in ((SHEET, sheet()), ("xl/sharedStrings.xml", sst())):
            with package.open(name, "w") as member:
                for part in parts:
                    for piece in part.pieces() if isinstance(part, Big) else [part.encode()]:
                        member.write(piece)
    return path


def _escaped(text: Text) -> Text:
    if isinstance(text, Big):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _letters(column: int) -> str:
    letters = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _string_bomb(fx: ModuleType, path: Path, *, mb: int, cells: int,
                 value: str = "<v>") -> Path:
    """One ``mb`` MB shared string: the description of ``cells`` rows."""
    rows: list[list[int | Text]] = [[PRODUCT, PROCESS, str(n), 0] for n in range(1, cells + 1)]
    return _shared_string_xlsx(fx, path, [Big("x", mb << 20)], rows, value)


def _refused(result: dict, words: str = TOO_MUCH) -> None:
    assert result["exception"] is None, result
    assert result["exit_code"] == 2, result
    message = result["stderr"]
    assert message.startswith("error: ") and message.count("\n") == 1, message
    assert words in message, message
    assert "Traceback" not in message and not result["stdout"]
    assert result["peak_rss_mb"] < MAX_RSS_MB, result


#: A value element as programs write it, and in a form only a parse can follow.
VALUE_FORMS = ["<v>", '<v xml:space="preserve">']


@pytest.mark.parametrize("value", VALUE_FORMS)
#: Strings under the size the packing-ratio check looks at (8 MB), so that this check decides.
@pytest.mark.parametrize("mb, cells", [(4, 300), (4, 1000), (2, 2000)])
def test_one_shared_string_in_many_cells_is_refused(fx: ModuleType, tmp_path: Path,
                                                    mb: int, cells: int, value: str) -> None:
    path = _string_bomb(fx, tmp_path / "bomb.xlsx", mb=mb, cells=cells, value=value)
    assert path.stat().st_size < 100_000
    result = validate_in_child(path)
    _refused(result)
    assert result["stderr"] == f"error: bomb.xlsx: {TOO_MUCH}\n"


@pytest.mark.parametrize("value", VALUE_FORMS)
def test_the_same_string_in_few_cells_is_read(fx: ModuleType, tmp_path: Path,
                                              value: str) -> None:
    """A long shared string used a few times is under the limit: the rows are validated (the
    description is too long, a row error, not a refusal)."""
    path = _string_bomb(fx, tmp_path / "few.xlsx", mb=2, cells=20, value=value)
    result = validate_in_child(path)
    assert result["exit_code"] == 1, result
    summary = json.loads(result["stdout"])
    assert any("description is longer than" in error for error in summary["errors"])
    assert result["peak_rss_mb"] < MAX_RSS_MB, result


@pytest.mark.parametrize("shape", ["letters", "blanks"])
def test_inline_strings_packed_like_a_bomb_are_refused(fx: ModuleType, tmp_path: Path,
                                                       shape: str) -> None:
    """A megabyte of letters in each of 20 cells, or 20 MB of blanks in one: inline text
    lives in the sheet's own part, so a small file can only hold much of it packed far
    tighter than a real sheet, and the packing-ratio check refuses it first."""
    if shape == "letters":
        rows = [[PRODUCT, PROCESS, "1", "y" * (1 << 20)]] * 20
    else:
        rows = [[PRODUCT, PROCESS, "1", Big(" ", 20 << 20)]]
    path = _shared_string_xlsx(fx, tmp_path / "inline.xlsx", [], rows)
    assert path.stat().st_size < 100_000
    _refused(validate_in_child(path), PACKED)


@pytest.mark.parametrize("text", ["z" * 100_000, '<text:s text:c="100000"/>'])
def test_repeated_ods_cells_are_refused(fx: ModuleType, tmp_path: Path, text: str) -> None:
    """One 100 KB cell (of letters, or of blanks written as one repeated space) repeated over
    100 columns and 200 rows: two gigabytes of text."""
    cell = '<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>'
    header = "".join(cell.format(v) for v in fx._REQUIRED_HEADERS)
    repeated = cell.replace("<table:table-cell ",
                            '<table:table-cell table:number-columns-repeated="100" ')
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office="urn:'
        'oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:'
        'opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:'
        'text:1.0" office:version="1.2"><office:body><office:spreadsheet>'
        f'<table:table table:name="Routing"><table:table-row>{header}</table:table-row>'
        '<table:table-row table:number-rows-repeated="200">'
        f'{repeated.format(text)}</table:table-row></table:table>'
        "</office:spreadsheet></office:body></office:document-content>")
    path = tmp_path / "repeated.ods"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet",
                         compress_type=zipfile.ZIP_STORED)
        package.writestr("META-INF/manifest.xml", _ODS_MANIFEST)
        package.writestr("content.xml", content)
    assert path.stat().st_size < 10_000
    _refused(validate_in_child(path))


def test_a_huge_csv_field_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "long_field.csv"
    lines = ["product_id,process_id,line_number,description", f"{PRODUCT},{PROCESS},1,ok",
             f"{PRODUCT},{PROCESS},2," + "w" * (5 << 20)]
    path.write_text("\r\n".join(lines) + "\r\n")
    _refused(validate_in_child(path), "long_field.csv: line 3 holds a field longer than 4 "
                                      "million characters; a routing sheet needs far less.")


def test_a_huge_csv_field_in_the_header_search_is_refused(tmp_path: Path) -> None:
    """A field past the limit among the first lines: the same sentence, not "no header"."""
    path = tmp_path / "long_head.csv"
    path.write_text("title," + "w" * (5 << 20) + "\r\nproduct_id,process_id,line_number\r\n")
    _refused(validate_in_child(path), "long_head.csv: line 1 holds a field longer than 4 "
                                      "million characters")


def test_a_large_ordinary_sheet_still_loads(fx: ModuleType, tmp_path: Path) -> None:
    """200,000 rows referring to a small shared-string table, as Excel saves them; one
    description of 2,000 characters, so that the count must follow each reference."""
    strings = [PRODUCT, PROCESS, "Cut the sheet metal to size", "Weld " * 400]
    rows: list[list[int | Text]] = [[0, 1, str(n), 2 if n % 1000 else 3]
                                   for n in range(1, 200_001)]
    path = _shared_string_xlsx(fx, tmp_path / "large.xlsx", strings, rows)
    result = validate_in_child(path)
    assert result["exit_code"] == 0, result
    assert json.loads(result["stdout"])["counts"]["valid"] == 200_000
    assert result["peak_rss_mb"] < MAX_RSS_MB, result


def test_a_table_of_too_many_shared_strings_is_refused(fx: ModuleType, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every entry costs memory however short: past the count, one sentence (the limit is
    lowered here, to keep the file small and the test quick)."""
    monkeypatch.setattr(sheetsize, "MAX_SHARED_STRINGS", 10)
    strings = [f"s{n}" for n in range(11)]
    path = _shared_string_xlsx(fx, tmp_path / "many.xlsx", strings, [[PRODUCT, PROCESS, "1", 0]])
    with pytest.raises(InputError, match=r"^many.xlsx holds more than 10 shared strings, far "
                                         "more than a routing sheet needs; it is refused.$"):
        load_sheet(path)
    monkeypatch.setattr(sheetsize, "MAX_SHARED_STRINGS", 11)
    assert load_sheet(path).row_numbers == [2]



def test_plan_and_apply_refuse_a_bomb_before_the_first_request(fx: ModuleType, tmp_path: Path,
                                                               emulator_thread) -> None:
    emu = emulator_thread(dataset=generate_dataset(2, 2))
    path = _string_bomb(fx, tmp_path / "bomb.xlsx", mb=4, cells=300)
    for command in (["plan"], ["apply", "--yes"]):
        before = emu.store.request_count
        result = CliRunner().invoke(cli, [*command, str(path), "--base-url", emu.base_url,
                                          "--token", DEMO_TOKEN], catch_exceptions=False)
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: bomb.xlsx: {TOO_MUCH}\n"
        assert emu.store.request_count == before and emu.store.write_count == 0


def _member(name: str, size: int, packed: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.file_size, info.compress_size = size, packed
    return info


def test_the_unpack_limit_is_a_full_height_workbook_and_the_ratio_judges_each_part() -> None:
    """Sizes as a package's directory states them: a full-height export's sheet, base and
    lists at the packing of real XML pass; past the total, or one large part packed like
    a bomb, one sentence; a small part may pack as tight as it likes."""
    sheet, base = 750 << 20, 650 << 20
    export = [_member("xl/worksheets/sheet1.xml", sheet, sheet // 8),
              _member("xl/worksheets/sheet2.xml", base, base // 8),
              _member("xl/worksheets/sheet3.xml", 40 << 20, 4 << 20),
              _member("xl/styles.xml", 4 << 20, 1 << 10)]
    guards.check_zip_members(export, "export.xlsx")
    too_big = [*export, _member("xl/media/padding.bin", guards.MAX_UNPACKED_BYTES, 1 << 30)]
    with pytest.raises(InputError, match=r"^big.xlsx unpacks to more than 2,048 MB, far more "
                                         "than a routing sheet needs; it is refused.$"):
        guards.check_zip_members(too_big, "big.xlsx")
    packed = 100 << 10
    tight = guards.MAX_RATIO * packed
    assert tight > guards.MAX_RATIO_FROM
    guards.check_zip_members([_member("xl/worksheets/sheet1.xml", tight, packed)], "ok")
    with pytest.raises(InputError, match=rf"^bomb.xlsx {PACKED} \(a zip bomb\); it is "
                                         "refused.$"):
        guards.check_zip_members([_member("xl/worksheets/sheet1.xml", tight, packed - 1)],
                                 "bomb.xlsx")


def test_the_text_limit_follows_what_the_sheet_and_its_strings_unpack_to(
        fx: ModuleType, tmp_path: Path) -> None:
    """Four times the sheet and its shared strings, 64 MB at least: 20 MB of other strings
    raise the limit of a sheet showing one 4 MB string 30 times (144 MB of text) to 96 MB,
    and 28 MB of padding in other parts (each too small for the packing check) raises
    nothing."""
    rows: list[list[int | Text]] = [[PRODUCT, PROCESS, str(n), 0] for n in range(1, 31)]
    other = base64.b64encode(random.Random(3).randbytes(15 << 20)).decode()
    with_strings = _shared_string_xlsx(fx, tmp_path / "strings.xlsx",
                                       [Big("x", 4 << 20), other], rows)
    with zipfile.ZipFile(with_strings) as package:
        limit = sheetsize.parts_text_limit(package, SHEET, "xl/sharedStrings.xml")
    assert 95 << 20 < limit < 100 << 20
    with pytest.raises(InputError, match=f"cells hold more than {limit >> 20} MB of text"):
        load_sheet(with_strings)

    padded = _shared_string_xlsx(fx, tmp_path / "padded.xlsx", [Big("x", 4 << 20)], rows)
    with zipfile.ZipFile(padded, "a", zipfile.ZIP_DEFLATED) as package:
        for number in range(4):
            package.writestr(f"xl/media/padding{number}.bin", b"x" * (7 << 20))
    with pytest.raises(InputError, match=TOO_MUCH.split(";")[0]):
        load_sheet(padded)
