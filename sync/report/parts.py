"""Small SpreadsheetML parts shared by the in-place editor (``patch``) and the writer of new
workbooks (``newbook``): worksheet head and tail pieces (column widths, frozen header,
autofilter), cell comments with their VML drawing, and the names and content types of
package parts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .cells import column_letter, escape_attr, escape_text

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
DOC_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
CT_NS = "http://schemas.openxmlformats.org/package/2006/content-types"

REL_OFFICE_DOCUMENT = f"{DOC_REL_NS}/officeDocument"
REL_WORKSHEET = f"{DOC_REL_NS}/worksheet"
REL_STYLES = f"{DOC_REL_NS}/styles"
REL_COMMENTS = f"{DOC_REL_NS}/comments"
REL_VML = f"{DOC_REL_NS}/vmlDrawing"

CT_WORKBOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CT_WORKSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_STYLES = "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"
CT_COMMENTS = "application/vnd.openxmlformats-officedocument.spreadsheetml.comments+xml"
CT_VML = "application/vnd.openxmlformats-officedocument.vmlDrawing"
CT_RELS = "application/vnd.openxmlformats-package.relationships+xml"

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
WORKSHEET_OPEN = (f'{XML_DECLARATION}<worksheet xmlns="{MAIN_NS}" xmlns:r="{DOC_REL_NS}">')
#: Excel's default margins, written after ``</sheetData>`` (and the autofilter, validations).
PAGE_MARGINS = ('<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" '
                'footer="0.3"/>')

#: Author of the comments a report adds; comments by this author in a re-uploaded report are
#: the previous run's and get replaced.
COMMENT_AUTHOR = "flowtrac-sync"
#: Beyond this many invalid cells, only the highlight and sync_message remain (tens of
#: thousands of comment boxes make Excel crawl, and the message is in the row anyway).
MAX_COMMENTS = 10_000
#: Rows an Excel sheet holds: a sheet with more is cut short when Excel opens it, so neither
#: a report nor an export ever writes one.
EXCEL_MAX_ROWS = 1_048_576

#: Excel's limit for sheet names, and characters it refuses in them.
MAX_SHEET_NAME = 31
_BAD_SHEET_CHARS = str.maketrans({c: " " for c in "[]:*?/\\"})


def sheet_name_from(text: str, taken: Iterable[str] = ()) -> str:
    """A valid sheet name from free text, unique (case-insensitively) among ``taken``."""
    name = " ".join(str(text).translate(_BAD_SHEET_CHARS).split()).strip("'")
    name = name[:MAX_SHEET_NAME].strip() or "Data"
    used = {t.casefold() for t in taken}
    candidate, n = name, 2
    while candidate.casefold() in used:
        suffix = f" ({n})"
        candidate = name[: MAX_SHEET_NAME - len(suffix)] + suffix
        n += 1
    return candidate


def quoted_sheet(name: str) -> str:
    """A sheet name as a formula reference uses it: 'It''s'!"""
    return "'" + name.replace("'", "''") + "'"


def cols_xml(widths: dict[int, float]) -> str:
    """``<cols>`` for the given 1-based column -> width (empty when there are none)."""
    if not widths:
        return ""
    items = "".join(f'<col min="{c}" max="{c}" width="{w:.2f}" customWidth="1"/>'
                    for c, w in sorted(widths.items()))
    return f"<cols>{items}</cols>"


def frozen_pane(header_row: int, frozen_columns: int = 0) -> str:
    """``<pane>`` + ``<selection>`` freezing the rows up to ``header_row`` (and columns)."""
    top_left = f"{column_letter(frozen_columns + 1)}{header_row + 1}"
    if frozen_columns:
        pane = "bottomRight"
        split = f'xSplit="{frozen_columns}" ySplit="{header_row}"'
    else:
        pane = "bottomLeft"
        split = f'ySplit="{header_row}"'
    return (f'<pane {split} topLeftCell="{top_left}" activePane="{pane}" state="frozen"/>'
            f'<selection pane="{pane}" activeCell="{top_left}" sqref="{top_left}"/>')


def sheet_views_xml(header_row: int | None, selected: bool) -> str:
    tab = ' tabSelected="1"' if selected else ""
    pane = frozen_pane(header_row) if header_row else ""
    return f'<sheetViews><sheetView{tab} workbookViewId="0">{pane}</sheetView></sheetViews>'


# --------------------------------------------------------------------------- comments


@dataclass(slots=True)
class Note:
    """A cell comment: where (1-based), who wrote it, and its ``<text>`` body as XML."""

    row: int
    column: int
    author: str
    body_xml: str

    @property
    def ref(self) -> str:
        return f"{column_letter(self.column)}{self.row}"


def note(row: int, column: int, message: str) -> Note:
    """A comment this report adds: plain text in Excel's usual comment font."""
    body = (f'<r><rPr><sz val="9"/><color indexed="81"/><rFont val="Tahoma"/><family val="2"/>'
            f'</rPr><t xml:space="preserve">{escape_text(message)}</t></r>')
    return Note(row, column, COMMENT_AUTHOR, body)


def comments_xml(notes: Sequence[Note]) -> str:
    authors: list[str] = []
    for n in notes:
        if n.author not in authors:
            authors.append(n.author)
    author_id = {a: i for i, a in enumerate(authors)}
    items = "".join(f'<comment ref="{n.ref}" authorId="{author_id[n.author]}">'
                    f"<text>{n.body_xml}</text></comment>" for n in notes)
    names = "".join(f"<author>{escape_text(a)}</author>" for a in authors)
    return (f'{XML_DECLARATION}<comments xmlns="{MAIN_NS}"><authors>{names}</authors>'
            f"<commentList>{items}</commentList></comments>")


def vml_blocks(count: int) -> int:
    """How many 1024-shape id blocks a VML drawing with ``count`` shapes needs."""
    return count // 1024 + 1


def vml_xml(notes: Sequence[Note], first_block: int) -> str:
    """The legacy drawing Excel needs to show comments (hidden boxes beside their cells).

    Shape ids come from 1024-wide blocks that must not overlap other drawings of the workbook;
    ``first_block`` is the first free one."""
    blocks = ",".join(str(b) for b in range(first_block, first_block + vml_blocks(len(notes))))
    head = (
        '<xml xmlns:v="urn:schemas-microsoft-com:vml" '
        'xmlns:o="urn:schemas-microsoft-com:office:office" '
        'xmlns:x="urn:schemas-microsoft-com:office:excel">'
        f'<o:shapelayout v:ext="edit"><o:idmap v:ext="edit" data="{blocks}"/></o:shapelayout>'
        '<v:shapetype id="_x0000_t202" coordsize="21600,21600" o:spt="202" '
        'path="m,l,21600r21600,l21600,xe"><v:stroke joinstyle="miter"/>'
        '<v:path gradientshapeok="t" o:connecttype="rect"/></v:shapetype>'
    )
    shapes = []
    for i, n in enumerate(notes):
        shape_id = first_block * 1024 + 1 + i
        row0, col0 = n.row - 1, n.column - 1
        top_row = max(row0 - 1, 0)
        # Box to the right of the cell, 2 columns wide and 4 rows high (default sizes).
        left_pt, top_pt = 48.0 * (col0 + 1) + 15, 15.0 * top_row + 1.5
        shapes.append(
            f'<v:shape id="_x0000_s{shape_id}" type="#_x0000_t202" '
            f'style="position:absolute;margin-left:{left_pt:g}pt;margin-top:{top_pt:g}pt;'
            f'width:144pt;height:60pt;z-index:{i + 1};visibility:hidden" fillcolor="#ffffe1" '
            'o:insetmode="auto"><v:fill color2="#ffffe1"/>'
            '<v:shadow on="t" color="black" obscured="t"/><v:path o:connecttype="none"/>'
            '<v:textbox style="mso-direction-alt:auto"><div style="text-align:left"></div>'
            '</v:textbox><x:ClientData ObjectType="Note"><x:MoveWithCells/><x:SizeWithCells/>'
            f"<x:Anchor>{col0 + 1}, 15, {top_row}, 2, {col0 + 4}, 15, {top_row + 4}, 16</x:Anchor>"
            f"<x:AutoFill>False</x:AutoFill><x:Row>{row0}</x:Row><x:Column>{col0}</x:Column>"
            "</x:ClientData></v:shape>"
        )
    return head + "".join(shapes) + "</xml>"


def target_part(source_part: str, target: str) -> str:
    """The zip member a relationship of ``source_part`` names: a target starting with ``/``
    from the package's root, any other from the source part's folder."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source_part), target))


def relationships_xml(rels: Sequence[tuple[str, str, str]]) -> str:
    """``.rels`` part from (id, type, target) triples."""
    items = "".join(f'<Relationship Id="{i}" Type="{t}" Target="{escape_attr(target)}"/>'
                    for i, t, target in rels)
    return f'{XML_DECLARATION}<Relationships xmlns="{PKG_REL_NS}">{items}</Relationships>'


# --------------------------------------------------------------------------- package parts
# For workbooks written from scratch: sheet n is xl/worksheets/sheet{n}.xml, its notes (if
# any) xl/comments{n}.xml with xl/drawings/vmlDrawing{n}.vml, then one styles.xml.


def workbook_xml(sheets: Sequence[tuple[str, str | None]],
                 states: Mapping[str, str] | None = None) -> str:
    """``xl/workbook.xml`` for (sheet name, autofilter range or None) in order; the first
    sheet is the active one.  ``states``: sheet name -> ``hidden`` or ``veryHidden``."""
    states = states or {}
    items = "".join(f'<sheet name="{escape_attr(name)}" sheetId="{n}"'
                    + (f' state="{states[name]}"' if name in states else "")
                    + f' r:id="rId{n}"/>'
                    for n, (name, _) in enumerate(sheets, 1))
    names = "".join(
        f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n}" hidden="1">'
        f"{escape_text(quoted_sheet(name))}!{absolute_ref(ref)}</definedName>"
        for n, (name, ref) in enumerate(sheets) if ref)
    return (f'{XML_DECLARATION}<workbook xmlns="{MAIN_NS}" xmlns:r="{DOC_REL_NS}">'
            '<bookViews><workbookView activeTab="0"/></bookViews>'
            f"<sheets>{items}</sheets>"
            + (f"<definedNames>{names}</definedNames>" if names else "")
            + '<calcPr calcId="191029"/></workbook>')


def absolute_ref(ref: str) -> str:
    """A1:B2 -> $A$1:$B$2"""
    return re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", ref)


def workbook_rels_xml(sheet_count: int) -> str:
    """``xl/_rels/workbook.xml.rels``: the sheets, then the styles."""
    return relationships_xml(
        [(f"rId{n}", REL_WORKSHEET, f"worksheets/sheet{n}.xml")
         for n in range(1, sheet_count + 1)]
        + [(f"rId{sheet_count + 1}", REL_STYLES, "styles.xml")])


def package_rels_xml() -> str:
    """``_rels/.rels``: where the workbook is."""
    return relationships_xml([("rId1", REL_OFFICE_DOCUMENT, "xl/workbook.xml")])


def notes_rels_xml(sheet_number: int) -> str:
    """``xl/worksheets/_rels/sheet{n}.xml.rels`` of a sheet with notes (its
    ``<legacyDrawing r:id="rId1"/>``)."""
    return relationships_xml([
        ("rId1", REL_VML, f"../drawings/vmlDrawing{sheet_number}.vml"),
        ("rId2", REL_COMMENTS, f"../comments{sheet_number}.xml"),
    ])


def content_types_xml(sheet_count: int, sheets_with_notes: Iterable[int] = ()) -> str:
    """``[Content_Types].xml`` for the sheets (numbered from 1), the comments of the sheets
    with notes, the styles and the workbook."""
    noted = list(sheets_with_notes)
    overrides = [("/xl/workbook.xml", CT_WORKBOOK), ("/xl/styles.xml", CT_STYLES)]
    overrides += [(f"/xl/worksheets/sheet{n}.xml", CT_WORKSHEET)
                  for n in range(1, sheet_count + 1)]
    overrides += [(f"/xl/comments{n}.xml", CT_COMMENTS) for n in noted]
    defaults = [("rels", CT_RELS), ("xml", "application/xml")]
    if noted:
        defaults.append(("vml", CT_VML))
    return (f'{XML_DECLARATION}<Types xmlns="{CT_NS}">'
            + "".join(f'<Default Extension="{e}" ContentType="{t}"/>' for e, t in defaults)
            + "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
            + "</Types>")
