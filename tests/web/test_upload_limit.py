"""An upload that exhausts memory ends only its own reading: a live ``serve`` with a small
``--upload-memory-mb`` answers it with one sentence on the page, and the other planners'
sessions go on planning."""

from __future__ import annotations

import base64
import importlib.util
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import aiohttp
import pytest
from click.testing import CliRunner

from sync.cli import main
from sync.demo import SAMPLE_DIR
from sync.limitedload import DEFAULT_UPLOAD_MEMORY_MB
from sync.sheetsize import MIN_TEXT_LIMIT
from sync.web import command

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = SAMPLE_DIR / "routing.xlsx"
OUT_OF_MEMORY = "takes more memory to read than this server allows one upload"
_SST_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SST_TYPE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
PRODUCT = "a0000001-0000-4000-8000-000000000001"
PROCESS = "b0000001-0000-4000-8000-000000000001"


def _fixtures() -> ModuleType:
    spec = importlib.util.spec_from_file_location("limit_make_fixtures",
                                                  DATA / "make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _under_the_text_limit(path: Path) -> Path:
    """A 4 MB shared string in 13 cells: 56 MB of text with the table's own copy, under the
    text check's 64 MB floor (and packed no tighter than real text), but about 450 MB to
    validate, as the reader, the rows and the report each hold copies; 3 MB on disk."""
    return _shared_string_cells(path, 4, 13)


def _text_bomb(path: Path) -> Path:
    """A 4 MB shared string in 300 cells: 1.2 GB of text, over the text check."""
    return _shared_string_cells(path, 4, 300)


def _shared_string_cells(path: Path, mb: int, cells: int) -> Path:
    fx = _fixtures()
    # Random letters: a string of one letter repeated is refused earlier, as a zip bomb.
    text = base64.b64encode(random.Random(7).randbytes(mb << 20))[:mb << 20].decode()
    sst = (f'{fx._XML_HEAD}<sst xmlns="{_SST_NS}" count="1" uniqueCount="1"><si><t>'
           + text + "</t></si></sst>")
    rows = fx._text_row(1, [*fx._REQUIRED_HEADERS, "description"])
    for number in range(2, cells + 2):
        rows += fx._row_xml(number, [fx._text_cell(f"A{number}", PRODUCT),
                                     fx._text_cell(f"B{number}", PROCESS),
                                     fx._text_cell(f"C{number}", str(number)),
                                     f'<c r="D{number}" t="s"><v>0</v></c>'])
    fx._raw_xlsx(path, fx._sheet_xml(rows), parts={"xl/sharedStrings.xml": sst},
                 workbook_rels_extra=f'<Relationship Id="rId9" Type="{_SST_TYPE}" '
                                     'Target="sharedStrings.xml"/>')
    return path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "sync.cli", "serve", "--demo", "--port",
                                "0", "--upload-memory-mb", "256", "--data-dir",
                                str(tmp_path / "data")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Planners' page: http://127.0.0.1:"), first
        yield first.split(": ", 1)[1].strip().rstrip("/"), process
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)


async def _signed_in(browser: aiohttp.ClientSession, url: str) -> str:
    """Sign in to the demo; the page's CSRF token."""
    text = await (await browser.get(f"{url}/")).text()
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    answer = await browser.post(f"{url}/signin", data={"csrf": csrf, "demo": "1"})
    assert answer.status == 200
    text = await answer.text()
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


async def _upload(browser: aiohttp.ClientSession, url: str, csrf: str,
                  path: Path) -> aiohttp.ClientResponse:
    form = aiohttp.FormData()
    form.add_field("csrf", csrf)
    form.add_field("file", path.read_bytes(), filename=path.name,
                   content_type="application/octet-stream")
    return await browser.post(f"{url}/upload", data=form)


def _browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_an_upload_that_exhausts_memory_ends_only_its_own_reading(
        served: tuple[str, subprocess.Popen[str]], tmp_path: Path) -> None:
    url, process = served
    bomb = _under_the_text_limit(tmp_path / "heavy.xlsx")
    assert bomb.stat().st_size < 5 << 20
    async with _browser() as first, _browser() as second:
        csrf_first = await _signed_in(first, url)
        csrf_second = await _signed_in(second, url)
        refused = await _upload(first, url, csrf_first, bomb)
        page = await refused.text()
        assert refused.status == 400
        assert f"heavy.xlsx {OUT_OF_MEMORY}; a routing sheet needs far less" in page
        assert "Traceback" not in page
        assert process.poll() is None
        # A sheet the text check stops is refused in the child too, with its own sentence.
        bomb = _text_bomb(tmp_path / "bomb.xlsx")
        page = await (await _upload(second, url, csrf_second, bomb)).text()
        assert (f"bomb.xlsx: cells hold more than {MIN_TEXT_LIMIT >> 20} MB of text; a "
                "routing sheet needs far less.") in page
        # The other session plans as before, and so does the one whose upload was refused.
        for browser, csrf in ((second, csrf_second), (first, csrf_first)):
            planned = await _upload(browser, url, csrf, SAMPLE)
            assert planned.status == 200 and planned.url.path.startswith("/plans/")
            assert "Apply" in await planned.text()
    assert process.poll() is None


def test_serve_takes_the_upload_memory_option(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[int] = []

    async def fake_serve(settings, host, port, *, access_log):  # type: ignore[no-untyped-def]
        served.append(settings.upload_memory_mb)

    monkeypatch.setattr(command, "_serve", fake_serve)
    runner = CliRunner()
    assert runner.invoke(main, ["serve", "--demo", "--upload-memory-mb", "512"]).exit_code == 0
    assert runner.invoke(main, ["serve", "--demo"]).exit_code == 0
    assert served == [512, DEFAULT_UPLOAD_MEMORY_MB]
    refused = runner.invoke(main, ["serve", "--demo", "--upload-memory-mb", "100"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
