"""Export and template downloads (``sync.exporting``, ``sync.templating``), and the static files."""

from __future__ import annotations

import csv
import io

import openpyxl

from sync import schema
from sync.demo import demo_dataset


async def test_template_download_is_a_workbook_with_the_schema_headers(web):
    page = await web()
    await page.get("/")
    response = await page.get("/template.xlsx")
    assert response.status == 200
    assert 'filename="flowtrac-template.xlsx"' in response.headers["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(await response.read()))
    headers = [c.value for c in workbook.worksheets[0][1]]
    for f in (schema.PRODUCT_ID, schema.PROCESS_ID, schema.LINE_NUMBER):
        assert f.name in headers
    assert list(page.state.sessions().root.iterdir()) == []   # nothing kept on the server


async def test_export_downloads_the_current_lines(web):
    page = await web()
    await page.sign_in()
    response = await page.get("/export?format=xlsx")
    assert response.status == 200
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(await response.read())).worksheets[0]
    rows = [r for r in sheet.iter_rows(values_only=True) if any(r)]
    header = rows[0]
    assert schema.PRODUCT_ID.name in header and schema.ID.name in header
    assert len(rows) - 1 == len(demo_dataset().lines)


async def test_export_of_one_product_as_csv(web):
    page = await web()
    await page.sign_in()
    product = demo_dataset().products[0]
    response = await page.get("/export", params={"format": "csv",
                                                 "products": product["product"]})
    assert response.status == 200
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows and {r[schema.PRODUCT_ID.name] for r in rows} == {product["product_id"]}


async def test_export_problems_are_messages(web):
    page = await web()
    await page.sign_in()
    response = await page.get("/export", params={"filter": "colour=red"})
    assert response.status == 400 and "not a filterable column" in await response.text()
    response = await page.get("/export", params={"products": "No Such Product"})
    assert response.status == 400 and "No Such Product" in await response.text()
    response = await page.get("/export", params={"format": "pdf"})
    assert response.status == 400


async def test_export_needs_a_sign_in(web):
    page = await web()
    await page.get("/")
    response = await page.get("/export")
    assert "Sign in first." in await response.text()


async def test_static_files_and_status_colours(web):
    page = await web()
    script = await page.get("/static/app.js")
    assert script.status == 200 and "setupApplyDialog" in await script.text()
    css = await (await page.get("/status.css")).text()
    # the report's palette: green create, blue update, grey unchanged, red problems, orange
    assert "tr.shade-green td { background: #EBF7E3; }" in css
    for shade in ("green", "blue", "grey", "red", "orange"):
        assert f".pill.shade-{shade}" in css
    assert "tr.shade-grey" not in css        # unchanged rows keep their look
    assert (await page.get("/static/../routes.py")).status == 404


async def test_template_of_a_signed_in_planner_has_the_tenant_names_in_its_dropdowns(web):
    """Signed in, the template's product and process columns list the tenant's names (the
    Lists sheet), as ``template --names`` does; signed out it is the blank template."""
    from sync.templating import LISTS_SHEET

    page = await web()
    await page.sign_in()
    response = await page.get("/template.xlsx")
    assert response.status == 200
    workbook = openpyxl.load_workbook(io.BytesIO(await response.read()))
    names = {c for row in workbook[LISTS_SHEET].iter_rows(values_only=True) for c in row if c}
    dataset = demo_dataset()
    assert {p["product"] for p in dataset.products} <= names
    assert {p["process"] for p in dataset.processes} <= names
    sources = {v.formula1 for v in workbook.worksheets[0].data_validations.dataValidation}
    assert any(LISTS_SHEET in (s or "") for s in sources)
