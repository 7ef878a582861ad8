"""What kind of file a sheet is, decided by its content rather than its name.

A zip package is an .xlsx/.xlsm, .xlsb or .ods workbook (or a Word file, a presentation ...),
an OLE2 compound file an .xls workbook or an encrypted .xlsx, anything else text or a binary
file named as such; a renamed file so gets a clear sentence instead of a parser's traceback.
"""

from __future__ import annotations

import codecs
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any, NoReturn

from sync.errors import InputError, OleDamagedError
from sync.load.guards import check_zip_members
from sync.load.header import brief

WORKBOOK_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_KNOWN_BINARIES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"%PDF", "a PDF document"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (_EMPTY_ZIP_MAGIC, "an empty zip archive"),
)




def check_file(file: Path) -> bytes:
    """Refuse what is not a readable, non-empty regular file; return its first bytes."""
    try:
        info = file.stat()
    except FileNotFoundError:
        raise InputError(f"{file} does not exist.") from None
    except OSError as exc:  # symlink loop, permission denied on a folder, name too long
        raise InputError(f"{file} cannot be opened: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{file} is a folder, not a spreadsheet file.")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{file} is not a regular file.")
    if info.st_size == 0:
        raise InputError(f"{file.name} is empty (0 bytes).")
    try:
        with file.open("rb") as stream:
            return stream.read(4096)
    except OSError as exc:
        raise InputError(f"{file} cannot be read: {exc.strerror or exc}.") from None


def detect_format(file: Path, head: bytes) -> str:
    """'xlsx', 'xlsb', 'ods', 'xls' or 'csv', from the content; InputError otherwise."""
    name = brief(file.name, 80)
    ext = file.suffix.lower()
    if head.startswith(_ZIP_MAGIC):
        return _zip_format(file)
    if head.startswith(OLE_MAGIC):
        return _ole_format(file)
    for magic, what in _KNOWN_BINARIES:
        if head.startswith(magic):
            raise InputError(f"{name} is {what}, not a spreadsheet.")
    if _looks_binary(head):
        raise InputError(f"{name} is not a spreadsheet: it holds binary data that is neither "
                         "a workbook nor text.")
    if ext in WORKBOOK_EXTENSIONS:
        lowered = head.lstrip().lower()
        if lowered.startswith((b"<", b"\xef\xbb\xbf<")):
            raise InputError(f"{name} is a web page or XML file, not a real {ext} workbook: "
                             "open it in Excel and save it as .xlsx.")
        raise InputError(f"{name} holds plain text, not a {ext} workbook: if it is a CSV file, "
                         "rename it to .csv.")
    if ext and ext not in TEXT_EXTENSIONS:
        raise InputError(f"{name} is not a spreadsheet file: use .xlsx, .xlsm, .xls, .ods, "
                         ".csv, .tsv or .txt.")
    return "csv"


def _looks_binary(head: bytes) -> bool:
    """Control bytes (other than tab/CR/LF/FF) in a text that has no UTF-16 BOM."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
    return controls > max(2, len(head) // 100)


def _zip_format(file: Path) -> str:
    name = brief(file.name, 80)
    try:
        with zipfile.ZipFile(file) as package:
            members = package.infolist()
            names = {m.filename for m in members}
            mimetype = b""
            if "mimetype" in names and package.getinfo("mimetype").file_size < 200:
                mimetype = package.read("mimetype")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError):
        raise InputError(f"{name} is damaged or incomplete (its zip structure cannot be read); "
                         "save it again from Excel.") from None
    check_zip_members(members, name)
    if mimetype.startswith(b"application/vnd.oasis.opendocument.spreadsheet"):
        return "ods"
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        refuse_document(name, "an OpenDocument text or presentation")
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "xl/workbook.bin" in names:
        return "xlsb"
    if "word/document.xml" in names:
        refuse_document(name, "a Word document")
    if "ppt/presentation.xml" in names:
        refuse_document(name, "a PowerPoint presentation")
    if "EncryptedPackage" in names:
        refuse_encrypted(name)
    raise InputError(f"{name} is a zip archive, not a spreadsheet.")


def refuse_document(name: str, what: str) -> NoReturn:
    raise InputError(f"{name} is {what}, not a spreadsheet.")


def refuse_encrypted(name: str) -> NoReturn:
    raise InputError(f"{name} is password-protected (encrypted); save a copy without a password "
                     "and use that.")


def _ole_format(file: Path) -> str:
    """An OLE2 compound file is an .xls workbook, or an encrypted .xlsx, or something else."""
    name = brief(file.name, 80)
    try:
        streams = Ole(file.read_bytes()).stream_names()
    except (OleDamagedError, OSError):
        raise InputError(f"{name} is damaged or incomplete (it cannot be read as an Office "
                         "file); save it again from Excel.") from None
    if "EncryptionInfo" in streams or "EncryptedPackage" in streams:
        refuse_encrypted(name)
    if "Workbook" in streams or "Book" in streams:
        return "xls"
    if "WordDocument" in streams:
        refuse_document(name, "a Word document")
    raise InputError(f"{name} is an Office file but not an Excel workbook.")




class Ole:
    """Just enough of the OLE2 compound file format to list and read streams.

    Used to tell an .xls workbook from an encrypted .xlsx (which is an OLE2 file holding
    EncryptionInfo) and to find formula-error cells that calamine reports as blank."""

    _END = 0xFFFFFFFE

    def __init__(self, data: bytes):
        if len(data) < 512 or not data.startswith(OLE_MAGIC):
            raise OleDamagedError
        self._data = data
        try:
            shift, mini_shift = struct.unpack_from("<HH", data, 30)
            fat_count, dir_start = struct.unpack_from("<II", data, 44)
            self._mini_cutoff, minifat_start, minifat_count, difat_start, difat_count = \
                struct.unpack_from("<IIIII", data, 56)
            if not 7 <= shift <= 16 or mini_shift > shift:
                raise OleDamagedError
            self._size = 1 << shift
            self._mini_size = 1 << mini_shift
            fat_sectors = [s for s in struct.unpack_from("<109I", data, 76)][:fat_count]
            per_sector = self._size // 4 - 1
            sector, guard = difat_start, 0
            while len(fat_sectors) < fat_count and sector < self._END and guard <= difat_count:
                entries = struct.unpack_from(f"<{per_sector + 1}I", data, self._offset(sector))
                fat_sectors.extend(entries[:per_sector])
                sector, guard = entries[per_sector], guard + 1
            fat: list[int] = []
            for sector in fat_sectors[:fat_count]:
                fat.extend(struct.unpack_from(f"<{self._size // 4}I", data, self._offset(sector)))
            self._fat = fat
            directory = self._chain_bytes(dir_start, self._fat, self._size, self._sector_bytes)
            self._entries: dict[str, tuple[int, int, int]] = {}
            root_start = root_size = 0
            for at in range(0, len(directory) - 127, 128):
                entry = directory[at: at + 128]
                name_length = struct.unpack_from("<H", entry, 64)[0]
                kind = entry[66]
                start, size = struct.unpack_from("<II", entry, 116)
                name = entry[: max(0, name_length - 2)].decode("utf-16-le", "replace")
                if kind == 5:
                    root_start, root_size = start, size
                elif kind == 2:
                    self._entries.setdefault(name, (start, size, kind))
            self._minifat: list[int] = []
            if minifat_count:
                raw = self._chain_bytes(minifat_start, self._fat, self._size,
                                        self._sector_bytes)
                self._minifat = list(struct.unpack_from(f"<{len(raw) // 4}I", raw))
            self._ministream = (self._chain_bytes(root_start, self._fat, self._size,
                                                  self._sector_bytes)[:root_size]
                                if root_size else b"")
        except (struct.error, IndexError, ValueError, OverflowError, MemoryError):
            raise OleDamagedError from None

    def _offset(self, sector: int) -> int:
        offset = (sector + 1) * self._size
        if offset + self._size > len(self._data):
            raise OleDamagedError
        return offset

    def _sector_bytes(self, sector: int) -> bytes:
        offset = self._offset(sector)
        return self._data[offset: offset + self._size]

    def _mini_bytes(self, sector: int) -> bytes:
        offset = sector * self._mini_size
        if offset + self._mini_size > len(self._ministream):
            raise OleDamagedError
        return self._ministream[offset: offset + self._mini_size]

    @classmethod
    def _chain_bytes(cls, start: int, table: list[int], size: int, read: Any) -> bytes:
        parts = []
        sector = start
        for _ in range(len(table) + 1):  # a loop in the chain cannot run forever
            if sector >= cls._END or sector >= len(table):
                break
            parts.append(read(sector))
            sector = table[sector]
        else:
            raise OleDamagedError
        return b"".join(parts)

    def stream_names(self) -> set[str]:
        return set(self._entries)

    def read(self, name: str) -> bytes:
        try:
            start, size, _ = self._entries[name]
            if size < self._mini_cutoff:
                data = self._chain_bytes(start, self._minifat, self._mini_size, self._mini_bytes)
            else:
                data = self._chain_bytes(start, self._fat, self._size, self._sector_bytes)
        except (struct.error, IndexError, KeyError):
            raise OleDamagedError from None
        return data[:size]

