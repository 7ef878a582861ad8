"""The plan table paged on the server (``sync.web.table``): order, filter, search, pages and
counts that agree, on real plans made against the emulator over loopback."""

from __future__ import annotations

import re

from sheetkit import server_rows, write_sheet

from sync import api
from sync.connection import Connection
from sync.emulator import DEMO_TOKEN
from sync.emulator.dataset import generate_dataset
from sync.web import table
from sync.web.table import TableQuery, select


async def _plan(emulator, tmp_path, *, products: int = 30, lines: int = 10,
                edit: dict[int, dict] | None = None) -> api.PlanResult:
    """A plan of a sheet holding every server line, with ``edit`` applied by row position."""
    emu = await emulator(dataset=generate_dataset(products, lines, seed=3))
    rows = server_rows(emu.store)
    for position, change in (edit or {}).items():
        rows[position] = {**rows[position], **change}
    sheet = write_sheet(tmp_path / "plan.csv", rows)
    connection = Connection.from_options(base_url=emu.base_url, token=DEMO_TOKEN)
    return await api.plan_async(sheet, connection)


async def test_changes_and_problems_come_first_then_sheet_order(emulator, tmp_path):
    planned = await _plan(emulator, tmp_path, edit={
        250: {"description": "changed late in the sheet"},
        120: {"line_number": "not a number"},
        280: {"product_minutes": "99"}})
    rows = table.entries(planned)
    view = select(rows, TableQuery())
    assert [(r.row, r.status) for r in view.entries[:3]] == [
        (rows[120].row, "invalid"), (rows[250].row, "would update"),
        (rows[280].row, "would update")]
    assert {r.status for r in view.entries[3:]} == {"unchanged"}
    # sheet order on request: the first page is the sheet's first rows
    in_sheet = select(rows, TableQuery(order="sheet"))
    assert [r.row for r in in_sheet.entries] == [r.row for r in rows[:table.PAGE_ROWS]]


async def test_counts_agree_with_every_filter_and_the_pages(emulator, tmp_path):
    planned = await _plan(emulator, tmp_path, edit={
        i: {"description": f"edit {i}"} for i in range(0, 300, 7)})
    rows = table.entries(planned)
    everything = select(rows, TableQuery())
    assert everything.counts == planned.counts()            # the strip and the filters agree
    assert everything.matched == everything.searched == len(rows) == 300
    assert everything.pages == 3 and (everything.first, everything.last) == (1, 100)
    for status, n in everything.counts.items():
        shown = []
        for page in range(1, select(rows, TableQuery(status=status)).pages + 1):
            view = select(rows, TableQuery(status=status, page=page))
            assert view.matched == n
            shown += view.entries
        assert len(shown) == n and {r.status for r in shown} == {status}
        assert len({r.position for r in shown}) == n        # no row twice across pages
    # a page past the end is the last page, not an empty one
    late = select(rows, TableQuery(page=99))
    assert late.query.page == 3 and (late.first, late.last) == (201, 300)
    # a status no row has: nothing, and the counts still say what there is
    none = select(rows, TableQuery(status="deleted"))
    assert none.entries == [] and none.matched == 0 and none.counts == everything.counts


async def test_search_finds_product_name_process_and_row_number(emulator, tmp_path):
    planned = await _plan(emulator, tmp_path, edit={5: {"description": "x"}})
    rows = table.entries(planned)
    target = rows[5]                                           # a write: its product is named
    assert target.product_name
    by_name = select(rows, TableQuery(search=target.product_name.upper()))
    assert target in by_name.entries
    assert all(r.product == target.product for r in by_name.entries)
    assert by_name.counts == {"would update": 1, "unchanged": by_name.matched - 1}
    by_id = select(rows, TableQuery(search=target.product[:13]))
    assert {r.product for r in by_id.entries} == {target.product}
    by_row = select(rows, TableQuery(search=str(target.row)))
    assert target in by_row.entries
    by_process = select(rows, TableQuery(search="welding"))
    assert by_process.matched and all(r.process == "Welding" for r in by_process.entries)
    nothing = select(rows, TableQuery(search="no such thing"))
    assert nothing.entries == [] and nothing.counts == {} and nothing.first == 0


def test_a_query_string_is_read_safely_and_links_keep_the_view():
    query = TableQuery.of({"status": "invalid", "q": "  base   frame ", "page": "2",
                           "order": "sheet"})
    assert query == TableQuery("invalid", "base frame", "sheet", 2)
    for bad in ({"page": "-1"}, {"page": "x"}, {"page": "9" * 20}, {"order": "drop table"}):
        assert TableQuery.of(bad) == TableQuery()
    assert len(TableQuery.of({"q": "y" * 5000}).search) == table.MAX_SEARCH
    assert query.link(page=3) == "?status=invalid&q=base+frame&order=sheet&page=3"
    # another filter starts again at page 1
    assert query.link(status="unchanged") == "?status=unchanged&q=base+frame&order=sheet"
    assert TableQuery().link() == "?"


async def test_the_page_is_paged_filtered_and_searched_over_http(web, tmp_path):
    page = await web()
    await page.sign_in()
    rows = server_rows(page.emulator.store)
    big = [{**r, "id": None, "line_number": n + 100} for n, r in enumerate(rows * 6)]
    plan = await page.upload(write_sheet(tmp_path / "many.csv", rows + big))
    text = await (await page.get(plan)).text()
    assert len(re.findall(r"<tr class=", text)) == table.PAGE_ROWS
    total = len(rows) * 7
    statuses = re.findall(r'<tr class="[^"]+" data-status="([^"]+)"', text)
    assert statuses == ["would create"] * 100                 # the creates come first
    assert f"Rows 1–100 of {total} rows; {total} rows in all." in text
    assert 'href="?page=2#rows"' in text
    second = await (await page.get(plan, params={"page": "2"})).text()
    assert f"Rows 101–{total} of {total} rows; {total} rows in all." in second
    assert len(re.findall(r"<tr class=", second)) == total - 100
    quiet = await (await page.get(plan, params={"status": "unchanged"})).text()
    assert set(re.findall(r'<tr class="[^"]+" data-status="([^"]+)"', quiet)) == {"unchanged"}
    n = len(rows)
    assert f"Rows 1–{n} of {n} “unchanged” rows; {total} rows in all." in quiet
    assert f">unchanged ({n})</a>" in quiet                   # the filter says the same
    found = await (await page.get(plan, params={"q": "3"})).text()
    assert re.findall(r'<tr class="[^"]+" data-status="[^"]+"><td class="num">(\d+)</td>',
                      found)[0] == "3"


async def test_pages_are_compressed_for_browsers_that_accept_it(web, tmp_path):
    page = await web()
    await page.sign_in()
    plan = await page.upload()
    response = await page.client.get(plan, headers={"Accept-Encoding": "gzip"},
                                     auto_decompress=False)
    raw = await response.read()
    assert response.headers["Content-Encoding"] == "gzip"
    import gzip

    html = gzip.decompress(raw).decode()
    assert "Plan: what would change" in html and len(raw) * 3 < len(html)
    plain = await page.client.get(plan, headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert "Plan: what would change" in await plain.text()
