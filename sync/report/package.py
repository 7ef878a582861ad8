"""The parts of a workbook package (the zip behind an .xlsx), read on demand, and the
changes the report makes to them: relationships, content types, new and dropped parts."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass

from ..errors import UnsupportedWorkbookError
from . import xmlscan
from .cells import escape_attr
from .parts import CT_WORKBOOK, PKG_REL_NS, REL_OFFICE_DOCUMENT, target_part


class Package:
    """The parts of the source workbook, read on demand, and the changes to write."""

    def __init__(self, source: zipfile.ZipFile):
        self.source = source
        self.names = {i.filename for i in source.infolist()}
        self.changed: dict[str, str | bytes] = {}
        self.dropped: set[str] = set()
        self.content_types = self.text("[Content_Types].xml")
        if any(n.lower().endswith("vbaproject.bin") for n in self.names):
            raise UnsupportedWorkbookError("the workbook holds macros")
        # A macro-enabled workbook without macros (LibreOffice saves them): the report is a
        # plain workbook, so it says so.
        self.content_types = re.sub(r"application/vnd\.ms-excel\.(?:sheet|template)"
                                    r"\.macroEnabled\.main\+xml", CT_WORKBOOK,
                                    self.content_types)
        root_rels = self.relationships("")
        office = [t for _, rel_type, t, _ in root_rels if rel_type == REL_OFFICE_DOCUMENT]
        if not office:
            raise UnsupportedWorkbookError("no workbook part")
        self.workbook_part = office[0]

    def text(self, part: str) -> str:
        if part in self.changed:
            value = self.changed[part]
            return value if isinstance(value, str) else value.decode("utf-8")
        try:
            data = self.source.read(part)
        except KeyError:
            raise UnsupportedWorkbookError(f"missing part {part}") from None
        head = data[:100]
        if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (
                b"encoding=" in head and not re.search(rb'encoding=["\']utf-?8', head, re.I)):
            raise UnsupportedWorkbookError(f"{part} is not UTF-8")
        return data.decode("utf-8-sig")

    def exists(self, part: str) -> bool:
        return (part in self.names or part in self.changed) and part not in self.dropped

    @staticmethod
    def rels_part(part: str) -> str:
        folder, name = posixpath.split(part)
        return posixpath.join(folder, "_rels", name + ".rels")

    def relationships(self, part: str) -> list[tuple[str, str, str, bool]]:
        """(id, type, resolved target part, external) of a part's relationships."""
        rels = self.rels_part(part)
        if not self.exists(rels):
            return []
        root = ET.fromstring(self.text(rels))
        out = []
        for rel in root:
            target = rel.get("Target", "")
            external = rel.get("TargetMode") == "External"
            if not external:
                target = target_part(part, target)
            out.append((rel.get("Id", ""), rel.get("Type", ""), target, external))
        return out

    def add_relationship(self, part: str, rel_type: str, target_part: str) -> str:
        """Add a relationship from ``part`` to ``target_part``; returns its id."""
        rels = self.rels_part(part)
        taken = {rid for rid, *_ in self.relationships(part)}
        number = 1
        while f"rId{number}" in taken:
            number += 1
        rid = f"rId{number}"
        target = posixpath.relpath(target_part, posixpath.dirname(part) or ".")
        item = f'<Relationship Id="{rid}" Type="{rel_type}" Target="{escape_attr(target)}"/>'
        if self.exists(rels):
            text = self.text(rels)
            if "</Relationships>" in text:
                text = text.replace("</Relationships>", item + "</Relationships>")
            else:   # <Relationships .../> with no relationships yet
                text = re.sub(r"<Relationships\b([^>]*)/>",
                              rf"<Relationships\1>{item}</Relationships>", text)
        else:
            text = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    f'<Relationships xmlns="{PKG_REL_NS}">{item}</Relationships>')
        self.changed[rels] = text
        return rid

    def remove_relationship(self, part: str, rid: str) -> None:
        rels = self.rels_part(part)
        text = re.sub(rf'<Relationship\b[^>]*\bId="{re.escape(rid)}"[^>]*/>', "", self.text(rels))
        self.changed[rels] = text

    def drop(self, part: str) -> None:
        """Leave a part out of the output (and out of the content types)."""
        self.dropped.add(part)
        self.content_types = re.sub(rf'<Override\b[^>]*PartName="/{re.escape(part)}"[^>]*/>',
                                    "", self.content_types)

    def add_override(self, part: str, content_type: str) -> None:
        item = f'<Override PartName="/{part}" ContentType="{content_type}"/>'
        if f'PartName="/{part}"' not in self.content_types:
            self.content_types = self.content_types.replace("</Types>", item + "</Types>")

    def add_default(self, extension: str, content_type: str) -> None:
        if f'Extension="{extension}"' not in self.content_types:
            item = f'<Default Extension="{extension}" ContentType="{content_type}"/>'
            self.content_types = self.content_types.replace("</Types>", item + "</Types>")

    def free_name(self, pattern: str) -> str:
        """The first part name ``pattern.format(n)`` not in the workbook."""
        number = 1
        while self.exists(pattern.format(number)) or pattern.format(number) in self.names:
            number += 1
        return pattern.format(number)


@dataclass(slots=True)
class SheetEntry:
    name: str
    sheet_id: int
    rid: str
    part: str


def zip_info(source: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    try:
        original = source.getinfo(name)
        info = zipfile.ZipInfo(name, date_time=original.date_time)
    except KeyError:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


class SharedStrings:
    """Shared strings read lazily, only as far as the highest index asked for."""

    _ITEM = re.compile(r"<si\b[^>]*?(?:/>|>(.*?)</si>)", re.S)

    def __init__(self, xml: str):
        self._items = self._ITEM.finditer(xml)
        self._texts: list[str] = []

    def get(self, index: int) -> str:
        while len(self._texts) <= index:
            match = next(self._items, None)
            if match is None:
                return ""
            body = re.sub(r"<rPh\b.*?</rPh>", "", match.group(1) or "", flags=re.S)
            self._texts.append(xmlscan.unescape_text(
                "".join(re.findall(r"<t\b[^>]*>(.*?)</t>", body, re.S))))
        return self._texts[index]
