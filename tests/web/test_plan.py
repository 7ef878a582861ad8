"""Upload and plan: the page shows what ``sync.api`` decided, safely escaped."""

from __future__ import annotations

import html
import io
import re
import stat
from pathlib import Path

import openpyxl
from sheetkit import product_lines, report_statuses, server_rows

from sync import api
from sync.connection import Connection

from .conftest import MESSY, SAMPLE, TOKEN


def _write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


async def test_plan_page_shows_counts_changes_and_the_confirmation(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    text = await (await page.get(plan)).text()
    counts = dict(re.findall(r'data-status="([^"]+)"><span class="count">(\d+)</span>', text))
    assert counts == {"would create": "2", "would update": "4", "unchanged": "20"}
    # before -> after per field, as the API planned it
    assert re.search(r'<span class="field">product_minutes</span> <span class="before">20\.5'
                     r'</span> → <span class="after">23</span>', text)
    assert '<span class="before">Active</span> → <span class="after">InActive</span>' in text
    # a filter button per status, and every row tagged with its status
    assert re.search(r'<a href="\?status=would\+update#rows" class="filter [a-z-]+" '
                     r'data-status="would update">would update \(4\)</a>', text)
    assert len(re.findall(r'<tr class="shade-[a-z]+" data-status="unchanged"', text)) == 20
    # the confirmation names the numbers and the target host
    host = page.emulator.base_url.split("//")[1].split("/")[0]
    assert f"This will create 2, update 4 and delete 0 lines on {host}." in text
    assert 'name="confirm" value="2,4,0"' in text
    assert page.emulator.store.write_count == 0          # planning writes nothing


async def test_invalid_rows_show_their_cell_referenced_messages(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(MESSY)
    text = await (await page.get(plan)).text()
    connection = Connection.from_options(base_url=page.emulator.base_url, token=TOKEN)
    expected = await api.plan_async(MESSY, connection)
    problems = [str(e) for e in expected.errors]
    assert len(problems) >= 10
    assert sum(bool(re.match(r"^[A-Z]+\d+: ", p)) for p in problems) >= 8   # cell refs
    for problem in problems:
        assert html.escape(problem) in text, problem
    assert f"invalid ({expected.counts()['invalid']})" in text


async def test_hostile_cell_text_is_shown_as_text(web, tmp_path):
    page = await web()
    await page.sign_in()
    line = server_rows(page.emulator.store)[0]
    hostile = [
        [line["product_id"], line["line_number"], line["process_id"],
         "<script>alert('x')</script>"],
        [line["product_id"], 90, line["process_id"], '=HYPERLINK("http://evil.example","go")'],
        [line["product_id"], "<img src=x onerror=alert(1)>", line["process_id"], "x"],
    ]
    sheet = _write_csv(tmp_path / "hostile.csv",
                       ["product_id", "line_number", "process_id", "description"], hostile)
    plan = await page.upload(sheet)
    text = await (await page.get(plan)).text()
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text          # inside the cell message
    assert "=HYPERLINK(&quot;http://evil.example&quot;,&quot;go&quot;)" in text
    assert len(re.findall(r"<script\b", text)) == 1               # only the page's own
    # ... and the plan report writes the formula-looking text as text
    data = await (await page.get(f"{plan}/plan.xlsx")).read()
    ws = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row if c.value and "HYPERLINK" in str(c.value)]
    assert cells and all(c.data_type == "s" for c in cells)


async def test_upload_too_large_is_refused_with_a_clear_message(web):
    page = await web(max_upload_bytes=1000)
    await page.sign_in()
    response = await page.post("/upload", page.form(SAMPLE))      # 7 KB, streamed and cut
    text = await response.text()
    assert response.status == 413
    assert "routing.xlsx is larger than 1 KB, the most this page accepts" in text
    response = await page.post("/upload", page.form(None, name="big.xlsx",
                                                    content=b"x" * 200_000))
    assert response.status == 413 and "is larger than 1 KB" in await response.text()
    folder = page.state.sessions().folder_of(_session(page))
    assert list(folder.iterdir()) == []                          # nothing left behind


async def test_wrong_file_types_get_the_loaders_message(web, tmp_path):
    page = await web()
    await page.sign_in()
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    cases = [
        (png, "photo.png", "photo.png is a PNG image, not a spreadsheet."),
        (b"%PDF-1.4 hello", "routing.pdf", "routing.pdf is a PDF document, not a spreadsheet."),
        (b"just some words\n", "notes.docx", "notes.docx is not a spreadsheet file: use .xlsx"),
        (b"product_id,line_number,process_id\n", "empty.csv", "but no data rows"),
        (b"name,notes\nx,y\n", "other.csv", "no header line with the required columns"),
    ]
    for content, name, message in cases:
        response = await page.post("/upload", page.form(None, name=name, content=content))
        text = await response.text()
        assert response.status == 400, name
        assert html.escape(message) in text, (name, text[:3000])
    assert page.emulator.store.write_count == 0


async def test_upload_needs_a_file_a_known_mode_and_a_sign_in(web):
    page = await web()
    await page.sign_in()
    response = await page.post("/upload", page.form(None))
    assert response.status == 400 and "Choose a file to upload" in await response.text()
    response = await page.post("/upload", page.form(SAMPLE, mode="destroy"))
    assert response.status == 400 and "Choose one of the modes" in await response.text()
    response = await page.post("/upload", page.form(SAMPLE, mode="mirror", max_delete="-1"))
    assert response.status == 400 and "delete limit must be a whole number" in (
        await response.text())
    await page.post("/signout", {})
    await page.get("/")
    response = await page.post("/upload", page.form(SAMPLE))
    assert "Sign in first." in await response.text()
    assert "Sign in to Flowtrac" in await response.text()


async def test_mirror_shows_the_delete_scope_and_the_guard(web, tmp_path):
    page = await web()
    await page.sign_in()
    lines = server_rows(page.emulator.store)
    product = lines[0]["product_id"]
    mine = product_lines(lines, product)
    sheet = _write_csv(tmp_path / "mirror.csv", ["product_id", "line_number", "process_id"],
                       [[r["product_id"], r["line_number"], r["process_id"]] for r in mine[:-1]])
    plan = await page.upload(sheet, mode="mirror")
    text = await (await page.get(plan)).text()
    assert "lines of the products this sheet names that the sheet lacks are deleted" in text
    assert f"{len(mine)} lines on Flowtrac are in scope; <strong>1</strong> deletes" in text
    assert "the delete limit is 10" in text
    assert 'data-status="would delete"' in text and 'name="confirm" value="0,0,1"' in text

    # The guard: more deletes than the limit -> nothing can be applied.
    plan = await page.upload(sheet, mode="mirror", max_delete="0")
    text = await (await page.get(plan)).text()
    assert "more than the limit of 0: nothing will be written" in text
    assert "Apply (blocked by the delete limit)" in text and 'name="confirm"' not in text
    response = await page.post(f"{plan}/apply", {"confirm": "0,0,1"})
    assert "more deletes than the limit allows" in await response.text()
    assert page.emulator.store.write_count == 0

    # The home page's mirror options (shown by the script when mirror is chosen).
    home = await (await page.get("/")).text()
    assert 'id="mirror-options"' in home and 'name="max_delete"' in home
    assert 'value="all"' in home and 'value="sheet" checked' in home


async def test_plan_report_download_is_an_xlsx_with_plan_statuses(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    response = await page.get(f"{plan}/plan.xlsx")
    assert response.status == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="routing.plan.xlsx"'
    statuses = report_statuses(await response.read())
    assert statuses == {"would create": 2, "would update": 4, "unchanged": 20}


async def test_plan_again_replaces_an_unapplied_plan(web):
    page = await web()
    await page.sign_in()
    plan = await page.upload(SAMPLE)
    response = await page.post(f"{plan}/replan", {})
    assert response.status == 200 and response.url.path != plan
    assert response.url.path.startswith("/plans/")
    assert (await page.get(plan)).status == 404            # the old plan cannot be applied


async def test_unknown_upload_is_not_found(web):
    page = await web()
    await page.sign_in()
    response = await page.get("/plans/nope")
    assert response.status == 404 and "not in your session" in await response.text()


async def test_stored_upload_is_private(web):
    page = await web()
    await page.sign_in()
    await page.upload(SAMPLE)
    store = page.state.sessions()
    folder = store.folder_of(_session(page))
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (stored,) = [p for p in folder.rglob("routing.xlsx")]
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600


async def test_token_session_plans_too(web):
    page = await web()
    await page.sign_in("", "", token=TOKEN)
    plan = await page.upload(SAMPLE)
    assert "would update (4)" in await (await page.get(plan)).text()


def _session(page):
    from sync.web.routes import COOKIE

    cookie = page.client.session.cookie_jar.filter_cookies(page.client.make_url("/"))[COOKIE]
    return page.state.sessions().get(cookie.value)


