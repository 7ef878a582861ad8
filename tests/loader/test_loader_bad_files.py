"""Every malformed input ends in one short InputError sentence (exit code 2), never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.errors import InputError
from sync.load import load_sheet

#: tests/data/bad/<file> -> the exact message (the file's name leads every message).
REQUIRED = "product_id (or product), process_id (or process) and line_number"
CORPUS = {
    "empty.csv": "empty.csv is empty (0 bytes).",
    "empty.xlsx": "empty.xlsx is empty (0 bytes).",
    "truncated.xlsx": "truncated.xlsx is damaged or incomplete (its zip structure cannot be "
                      "read); save it again from Excel.",
    "truncated.xls": "truncated.xls is damaged or incomplete (it cannot be read as an Office "
                     "file); save it again from Excel.",
    "png_renamed.xlsx": "png_renamed.xlsx is a PNG image, not a spreadsheet.",
    "pdf_renamed.csv": "pdf_renamed.csv is a PDF document, not a spreadsheet.",
    "encrypted.xlsx": "encrypted.xlsx is password-protected (encrypted); save a copy without "
                      "a password and use that.",
    "no_required_columns.csv": "no_required_columns.csv has no header line with the required "
                               f"columns {REQUIRED} in its first 50 lines (closest: line 1, "
                               "which lacks process_id (or process) and line_number).",
    "title_only.csv": f"title_only.csv has no header line with the required columns {REQUIRED} "
                      "in its first 50 lines.",
    "header_only.csv": "header_only.csv has a header (row 1) but no data rows.",
    "header_only.xlsx": 'header_only.xlsx, sheet "Sheet" has a header (row 1) but no data rows.',
    "binary_garbage.csv": "binary_garbage.csv is not a spreadsheet: it holds binary data that "
                          "is neither a workbook nor text.",
    "nul_bytes.csv": "nul_bytes.csv contains NUL bytes, so it is not a text (CSV) file; save it "
                     "from Excel as CSV UTF-8 or .xlsx.",
    "no_required_sheets.xlsx": "no_required_sheets.xlsx has no sheet with the required columns "
                               f"{REQUIRED} in its first 50 rows "
                               '(sheets: "Summary", "Notes"; closest: sheet "Notes" row 1, '
                               "which lacks line_number).",
    "two_columns_one_field.csv": 'two_columns_one_field.csv, line 1: columns A ("Product ID") '
                                 'and C ("product_id") both mean product_id; keep only one.',
    "csv_renamed.xlsx": "csv_renamed.xlsx holds plain text, not a .xlsx workbook: if it is a "
                        "CSV file, rename it to .csv.",
    "html_renamed.xls": "html_renamed.xls is a web page or XML file, not a real .xls workbook: "
                        "open it in Excel and save it as .xlsx.",
    "zip_not_workbook.xlsx": "zip_not_workbook.xlsx is a zip archive, not a spreadsheet.",
    "word_document.xlsx": "word_document.xlsx is a Word document, not a spreadsheet.",
}


def _assert_short_sentence(message: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert 10 < len(message) <= 300
    assert message.endswith(".")


def test_the_corpus_is_complete(data_dir: Path) -> None:
    on_disk = sorted(p.name for p in (data_dir / "bad").iterdir())
    # The hostile files (issue 7) are asserted by tests/hostile/test_hostile_files.py.
    assert set(CORPUS) <= set(on_disk)
    assert len(on_disk) >= 12


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_file_gives_one_clear_sentence(name: str, data_dir: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_sheet(data_dir / "bad" / name)
    assert caught.value.exit_code == 2
    assert str(caught.value) == CORPUS[name]
    _assert_short_sentence(str(caught.value))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_sheet(tmp_path / "nowhere.xlsx")
    assert str(caught.value) == f"{tmp_path / 'nowhere.xlsx'} does not exist."


def test_folder(tmp_path: Path) -> None:
    folder = tmp_path / "routing.xlsx"
    folder.mkdir()
    with pytest.raises(InputError) as caught:
        load_sheet(folder)
    assert str(caught.value) == f"{folder} is a folder, not a spreadsheet file."


def test_symlink_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop.csv"
    os.symlink(loop, loop)
    with pytest.raises(InputError) as caught:
        load_sheet(loop)
    _assert_short_sentence(str(caught.value))
    assert "cannot be opened" in str(caught.value)


def test_fifo_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is not a regular file"):
        load_sheet(fifo)


def test_unsupported_extension_with_text(tmp_path: Path) -> None:
    path = tmp_path / "routing.json"
    path.write_text('{"product_id": 1}')
    with pytest.raises(InputError) as caught:
        load_sheet(path)
    assert str(caught.value) == ("routing.json is not a spreadsheet file: use .xlsx, .xlsm, "
                                 ".xls, .ods, .csv, .tsv or .txt.")


def test_encrypted_file_named_xls_is_also_recognised(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes((data_dir / "bad" / "encrypted.xlsx").read_bytes())
    with pytest.raises(InputError, match="password-protected"):
        load_sheet(path)


def test_corrupt_sheet_inside_a_sound_zip(tmp_path: Path, data_dir: Path) -> None:
    import zipfile

    source = data_dir / "routing_openpyxl.xlsx"
    target = tmp_path / "corrupt.xlsx"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]   # cut off in the middle of the XML
            new.writestr(item, data)
    with pytest.raises(InputError) as caught:
        load_sheet(target)
    _assert_short_sentence(str(caught.value))
    assert str(caught.value).startswith("corrupt.xlsx")


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(
    st.binary(max_size=600),
    st.text(max_size=600).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.lists(st.sampled_from(["product_id", "process_id", "line_number", "id", "",
                                       "x", "1", "1.5", '"', "#REF!", " ", "\r"]),
                      max_size=6), max_size=8)
      .map(lambda rows: "\n".join(",".join(r) for r in rows).encode()),
))
def test_any_text_file_loads_or_is_refused_cleanly(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_bytes(content)
    try:
        sheet = load_sheet(path)
    except InputError as exc:
        _assert_short_sentence(str(exc))
    else:
        assert len(sheet.row_numbers) == len(sheet.frame) > 0
        assert len(sheet.headers) == len(sheet.letters) == sheet.frame.shape[1]
