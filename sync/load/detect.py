"""What kind of file a sheet is, decided by its content rather than its name.

A zip package is an .xlsx/.xlsm, .xlsb or .ods workbook (or a Word file, a presentation ...),
an OLE2 compound file an .xls workbook or an encrypted .xlsx, anything else text or a binary
file named as such; a renamed file so gets a clear sentence instead of a parser's traceback.
"""

from __future__ import annotations

import codecs
import stat
import zipfile
from pathlib import Path
from typing import NoReturn

from sync.errors import InputError, OleDamagedError
from sync.load.guards import check_zip_members
from sync.load.header import brief
from sync.load.xls import OLE_MAGIC, Ole

WORKBOOK_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt"})

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
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
