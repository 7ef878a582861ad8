"""Keep the planner's workbook: edit its XML in place and stream the data sheet's rows.

Everything the report does not touch (other sheets, charts, images, comments, validation,
conditional formats, defined names, the title block) is copied unchanged.  On the data sheet
each marked row gets the four report cells and its colours; a row is parsed only as far as
needed to restyle its cells.  A 100,000-row sheet takes seconds, where loading and saving it
with openpyxl takes a minute and gigabytes.

Workbooks using something this module does not handle raise ``UnsupportedWorkbookError``; the
caller then falls back to openpyxl.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any

from sync.model import LoadedSheet, ReportRow, ServerOnlyRow

from ..errors import UnsupportedWorkbookError
from ..zipdeflate import deflate_fast, open_member
from . import xmlscan
from .cells import escape_attr
from .content import MESSAGE, SERVER_ONLY_SHEET, STATUS, SUMMARY_SHEET, SUMMARY_TITLE
from .datasheet import DataSheet
from .extra_sheets import server_only_sheet, summary_sheet
from .package import Package, SharedStrings, SheetEntry, zip_info
from .parts import CT_WORKSHEET, DOC_REL_NS, REL_WORKSHEET, quoted_sheet, sheet_name_from
from .streaming import write_text_chunks
from .styles import StyleBook

__all__ = ["UnsupportedWorkbookError", "patch_workbook"]

COMPRESS_LEVEL = 1
_COPY_BYTES = 1 << 20
_FIRST_ROW = re.compile(r"<row\b[^>]*?(?:/>|>.*?</row>)", re.S)


def patch_workbook(sheet: LoadedSheet, rows: Mapping[int, ReportRow],
                   server_only: Sequence[ServerOnlyRow], summary: Mapping[str, Any],
                   target: IO[bytes], replace_sheets: Mapping[str, Iterable[str]] | None = None
                   ) -> None:
    """Write the planner's workbook with the report added into ``target``.

    ``replace_sheets``: sheet name -> the worksheet XML, in pieces, that replaces that
    sheet's, where the workbook has it (the three-way merge's refreshed base,
    ``sync.mergebase``); it is streamed like the data sheet."""
    try:
        source = zipfile.ZipFile(sheet.path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UnsupportedWorkbookError(f"cannot open the workbook as a zip file: {exc}") from None
    with source, zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED,
                                 compresslevel=COMPRESS_LEVEL) as out:
        patch = _Patch(source, out, sheet, rows, server_only, summary)
        for entry in patch.sheets:
            if replace_sheets and entry.name in replace_sheets and entry.part:
                patch.streamed[entry.part] = replace_sheets[entry.name]
        patch.run()


class _Patch:
    """One patch run: the workbook part, the report sheets, the data sheet, the copy."""

    def __init__(self, source: zipfile.ZipFile, out: zipfile.ZipFile, sheet: LoadedSheet,
                 rows: Mapping[int, ReportRow], server_only: Sequence[ServerOnlyRow],
                 summary: Mapping[str, Any]):
        self.pkg = Package(source)
        self.out = out
        self.streamed: dict[str, Iterable[str]] = {}   # part -> XML replacing it, in pieces
        self.sheet = sheet
        self.rows = rows
        self.server_only = server_only
        self.summary = summary
        self.workbook = self.pkg.text(self.pkg.workbook_part)
        if not re.search(r"<workbook\b", self.workbook) or DOC_REL_NS not in self.workbook:
            raise UnsupportedWorkbookError("the workbook part is not transitional SpreadsheetML")
        self.r_prefix = self._rel_prefix(self.workbook)
        self.sheets = self._sheets()
        styles_part = next((t for _, rel_type, t, _ in
                            self.pkg.relationships(self.pkg.workbook_part)
                            if rel_type.endswith("/styles")), None)
        if styles_part is None or not self.pkg.exists(styles_part):
            raise UnsupportedWorkbookError("the workbook has no stylesheet")
        self.styles_part = styles_part
        try:
            self.book = StyleBook(self.pkg.text(styles_part))
        except ValueError as exc:
            raise UnsupportedWorkbookError(str(exc)) from None
        self._shared: SharedStrings | None = None

    @staticmethod
    def _rel_prefix(xml: str) -> str:
        match = re.search(rf'xmlns:(\w+)="{re.escape(DOC_REL_NS)}"', xml)
        if match is None:
            raise UnsupportedWorkbookError("no relationships namespace")
        return match.group(1)

    def _sheets(self) -> list[SheetEntry]:
        rels = {rid: target for rid, _, target, _ in self.pkg.relationships(self.pkg.workbook_part)}
        workbook = self._workbook_body()
        sheets_el = _sheets_element(workbook)
        body = workbook[sheets_el.start:sheets_el.end]
        out = []
        for match in re.finditer(r"<(?:\w+:)?sheet\b[^>]*/?>", body):
            a = xmlscan.attrs(match.group(0))
            rid = a.get(f"{self.r_prefix}:id", "")
            out.append(SheetEntry(a.get("name", ""), int(a.get("sheetId", "0")), rid,
                                   rels.get(rid, "")))
        return out

    def _workbook_bounds(self) -> tuple[int, int]:
        """Where the workbook element's content starts and ends in the part."""
        start = re.search(r"<workbook\b[^>]*>", self.workbook)
        end = self.workbook.rfind("</workbook>")
        if start is None or end < 0:
            raise UnsupportedWorkbookError("unreadable workbook part")
        return start.end(), end

    def _workbook_body(self) -> str:
        start, end = self._workbook_bounds()
        return self.workbook[start:end]

    def _set_workbook_body(self, body: str) -> None:
        start, end = self._workbook_bounds()
        self.workbook = self.workbook[:start] + body + self.workbook[end:]

    # ------------------------------------------------------------------ main

    def run(self) -> None:
        entry = self._data_entry()
        data = DataSheet(self.pkg, self.book, self.sheet, self.rows, entry)
        data.prepare()
        summary_entry = self._report_sheet(SUMMARY_SHEET, entry, _is_our_summary)
        server_entry = self._report_sheet(SERVER_ONLY_SHEET, entry, _is_our_server_only)
        summary_part = summary_sheet(self.book, self.summary, self.rows, self.server_only)
        server_part = server_only_sheet(self.book, self.server_only)
        # The data sheet streams into the output first; everything else is small.
        with self.out.open(entry.part, "w") as stream:
            write_text_chunks(stream, data.chunks())
        if data.formulas_replaced:
            # Excel's list of formula cells would name cells that are now values.
            for rid, rel_type, target, _ in self.pkg.relationships(self.pkg.workbook_part):
                if rel_type.endswith("/calcChain"):
                    self.pkg.remove_relationship(self.pkg.workbook_part, rid)
                    self.pkg.drop(target)
        self.pkg.changed[summary_entry.part] = summary_part.xml
        self.pkg.changed[server_entry.part] = server_part.xml
        filters = {server_entry.name: server_part.filter_ref}
        filters[entry.name] = data.sheet_filter_ref
        self._defined_filters(filters)
        self.pkg.changed[self.pkg.workbook_part] = self.workbook
        self.pkg.changed[self.styles_part] = self.book.xml()
        self.pkg.changed["[Content_Types].xml"] = self.pkg.content_types
        self._write_rest(skip={entry.part})

    def _data_entry(self) -> SheetEntry:
        wanted = self.sheet.sheet_name
        for entry in self.sheets:
            if wanted is None or entry.name == wanted:
                if not entry.part or not self.pkg.exists(entry.part):
                    raise UnsupportedWorkbookError(f"sheet {entry.name!r} has no worksheet part")
                return entry
        raise UnsupportedWorkbookError(f"no sheet named {wanted!r}")

    def _report_sheet(self, name: str, data: SheetEntry, is_ours: Any) -> SheetEntry:
        """The sheet the Summary / Server only table goes to: the one a previous report
        wrote (replaced in place), else a new sheet at the end under a free name."""
        for entry in self.sheets:
            if entry.name.casefold() == name.casefold() and entry is not data and entry.part:
                if self.pkg.exists(entry.part) and is_ours(self._first_row(entry.part)):
                    return entry
        taken = [e.name for e in self.sheets]
        unique = sheet_name_from(name, taken)
        part = self.pkg.free_name("xl/worksheets/sheet{}.xml")
        self.pkg.changed[part] = ""          # reserved; the sheet's XML comes later
        rid = self.pkg.add_relationship(self.pkg.workbook_part, REL_WORKSHEET, part)
        self.pkg.add_override(part, CT_WORKSHEET)
        entry = SheetEntry(unique, max([0, *(e.sheet_id for e in self.sheets)]) + 1, rid, part)
        self.sheets.append(entry)
        item = (f'<sheet name="{escape_attr(unique)}" sheetId="{entry.sheet_id}" '
                f'{self.r_prefix}:id="{rid}"/>')
        body = self._workbook_body()
        sheets_el = _sheets_element(body)
        element = body[sheets_el.start:sheets_el.end]
        close = element.rfind("</")
        if close < 0 or element.endswith("/>"):
            raise UnsupportedWorkbookError("empty sheet list")
        element = element[:close] + item + element[close:]
        self._set_workbook_body(body[:sheets_el.start] + element + body[sheets_el.end:])
        return entry

    def _first_row(self, part: str) -> list[str]:
        """Texts of the first row of a sheet (to recognise a previous report's sheets)."""
        xml = self.pkg.text(part)
        match = _FIRST_ROW.search(xml)
        if match is None:
            return []
        texts = []
        for cell in re.finditer(r"<c\b([^>]*?)(?:/>|>(.*?)</c>)", match.group(0), re.S):
            a, body = xmlscan.attrs(f"<c{cell.group(1)}>"), cell.group(2) or ""
            kind = a.get("t")
            if kind == "s":
                value = re.search(r"<v>(\d+)</v>", body)
                texts.append(self.shared_strings.get(int(value.group(1))) if value else "")
            elif kind in ("inlineStr", "str"):
                texts.append(xmlscan.unescape_text("".join(re.findall(
                    r"<t\b[^>]*>(.*?)</t>", body, re.S) or re.findall(r"<v>(.*?)</v>", body))))
            else:
                texts.append("")
        return texts

    @property
    def shared_strings(self) -> SharedStrings:
        if self._shared is None:
            part = next((t for _, rel_type, t, _ in self.pkg.relationships(self.pkg.workbook_part)
                         if rel_type.endswith("/sharedStrings")), None)
            self._shared = SharedStrings(self.pkg.text(part) if part and self.pkg.exists(part)
                                          else "")
        return self._shared

    def _defined_filters(self, refs: Mapping[str, str | None]) -> None:
        """The hidden ``_xlnm._FilterDatabase`` name Excel keeps beside each autofilter."""
        body = self._workbook_body()
        index = {e.name: i for i, e in enumerate(self.sheets)}
        names_el = xmlscan.find_child(body, "definedNames")
        items = body[names_el.start:names_el.end] if names_el else "<definedNames></definedNames>"
        start, content, end = xmlscan.inner(items)
        if not end:
            start, end = start[:-2] + ">", "</definedNames>"
        for name, ref in refs.items():
            local = index[name]
            content = re.sub(
                rf'<definedName\b[^>]*name="_xlnm\._FilterDatabase"[^>]*'
                rf'localSheetId="{local}"[^>]*>.*?</definedName>', "", content, flags=re.S)
            content = re.sub(
                rf'<definedName\b[^>]*localSheetId="{local}"[^>]*'
                rf'name="_xlnm\._FilterDatabase"[^>]*>.*?</definedName>', "", content, flags=re.S)
            if ref:
                absolute = re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", ref)
                content += (f'<definedName name="_xlnm._FilterDatabase" localSheetId="{local}" '
                            f'hidden="1">{escape_attr(quoted_sheet(name))}!{absolute}'
                            "</definedName>")
        element = start + content + end if content else ""
        if names_el:
            body = body[:names_el.start] + element + body[names_el.end:]
        elif element:
            body = xmlscan.insert_in_order(body, element, "definedNames",
                                           xmlscan.WORKBOOK_ORDER)
        self._set_workbook_body(body)

    def _copy(self, name: str) -> None:
        """An unchanged part, streamed: a large one (an export's hidden base sheet) is never
        held whole, and ISA-L inflates and deflates it."""
        with (open_member(self.pkg.source, name) as source,
              self.out.open(zip_info(self.pkg.source, name), "w") as target):
            deflate_fast(target)
            shutil.copyfileobj(source, target, _COPY_BYTES)

    def _write_rest(self, skip: set[str]) -> None:
        """Copy every other part, changed or not, then the new ones."""
        written = set(skip)
        for info in self.pkg.source.infolist():
            name = info.filename
            if name in written or name in self.pkg.dropped:
                continue
            written.add(name)
            data = self.pkg.changed.get(name)
            if name in self.streamed:
                with self.out.open(zip_info(self.pkg.source, name), "w") as stream:
                    write_text_chunks(stream, self.streamed[name])
            elif data is None:
                self._copy(name)
            else:
                self.out.writestr(zip_info(self.pkg.source, name), data,
                                  compresslevel=COMPRESS_LEVEL)
        for name, data in self.pkg.changed.items():
            if name not in written and name not in self.pkg.dropped:
                self.out.writestr(zip_info(self.pkg.source, name), data,
                                  compresslevel=COMPRESS_LEVEL)


def _sheets_element(workbook_body: str) -> xmlscan.Child:
    """The workbook's ``<sheets>`` list, which every workbook has (else it is refused)."""
    sheets_el = xmlscan.find_child(workbook_body, "sheets")
    if sheets_el is None:
        raise UnsupportedWorkbookError("the workbook lists no sheets")
    return sheets_el


def _is_our_summary(first_row: list[str]) -> bool:
    return bool(first_row) and first_row[0] == SUMMARY_TITLE


def _is_our_server_only(first_row: list[str]) -> bool:
    return STATUS in first_row and first_row[-1:] == [MESSAGE]
