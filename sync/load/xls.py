"""The insides of an .xls workbook: the streams of its OLE2 compound file (read by
``olefile``) and the BIFF records of its workbook stream.

A workbook stream is a run of records, each a type and a length (two bytes each) and that
many bytes of data.  It opens with the workbook's globals (the sheet list as BOUNDSHEET
records, the shared strings as one SST record and the CONTINUE records after it), then holds
each sheet as a substream from a BOF to its EOF, found by the offset its BOUNDSHEET gives.
"""

from __future__ import annotations

import io
import struct
from array import array
from collections.abc import Iterator

import olefile

from sync.errors import OleDamagedError

OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")

_BOUNDSHEET, _SST, _CONTINUE = 0x0085, 0x00FC, 0x003C
_BOF, _EOF = frozenset({0x0809, 0x0409, 0x0209, 0x0009}), 0x000A   # BOF of BIFF8, 4, 3, 2


class Ole:
    """The streams of an OLE2 compound file, read by ``olefile``.

    Used to tell an .xls workbook from an encrypted .xlsx (which is an OLE2 file holding
    EncryptionInfo), to size an .xls workbook's sheets before calamine reads them, and to
    find formula-error cells that calamine reports as blank.  A
    structure that does not hold together (a chain that loops or leaves the file, a stream
    larger than the file) is OleDamagedError."""

    def __init__(self, data: bytes):
        if len(data) < 512 or not data.startswith(OLE_MAGIC):
            raise OleDamagedError
        try:
            self._file = olefile.OleFileIO(io.BytesIO(data))
            paths = self._file.listdir(streams=True, storages=False)
        except _OLE_ERRORS:
            raise OleDamagedError from None
        # A stream by its own name, wherever it sits; one at the top level first.
        self._paths: dict[str, list[str]] = {}
        for path in sorted(paths, key=len):
            self._paths.setdefault(path[-1], path)

    def stream_names(self) -> set[str]:
        return set(self._paths)

    def read(self, name: str) -> bytes:
        try:
            with self._file.openstream(self._paths[name]) as stream:
                data: bytes = stream.read()
                return data
        except (*_OLE_ERRORS, KeyError):
            raise OleDamagedError from None


#: What ``olefile`` raises on a damaged file (mostly OSError; the others from struct reads
#: past the end of the data).
_OLE_ERRORS = (OSError, struct.error, IndexError, ValueError, OverflowError, MemoryError,
               EOFError, RecursionError)


def workbook_stream(ole: Ole) -> tuple[bytes, bool]:
    """The workbook stream, and whether it is BIFF8 (``Workbook``; ``Book`` is BIFF5)."""
    if "Workbook" in ole.stream_names():
        return ole.read("Workbook"), True
    return ole.read("Book"), False


def sheet_offsets(workbook: bytes, biff8: bool) -> list[tuple[str, int]]:
    """Each sheet's name and where its substream starts, from the BOUNDSHEET records."""
    return [(biff_sheet_name(body, biff8), struct.unpack_from("<I", body)[0])
            for kind, body in biff_substream(workbook, 0)
            if kind == _BOUNDSHEET and len(body) >= 8]


def shared_string_lengths(workbook: bytes) -> array[int]:
    """The length in characters of each shared string, in table order.

    The SST record's data goes on in the CONTINUE records after it.  A string's characters
    may be cut at such a boundary: the next record then starts with a flags byte saying
    whether the rest is one or two bytes a character.  Its rich-text runs and phonetic data
    (skipped here) are cut without one."""
    pieces: list[bytes] = []
    for kind, body in biff_substream(workbook, 0):
        if kind == _SST:
            pieces = [body]
        elif kind == _CONTINUE and pieces:
            pieces.append(body)
        elif pieces:
            break
    lengths: array[int] = array("q")
    if not pieces or len(pieces[0]) < 8:
        return lengths
    count = struct.unpack_from("<I", pieces[0], 4)[0]
    number, at = 0, 8
    piece = pieces[0]
    for _ in range(count):
        if at + 3 > len(piece):   # a string's header is never cut: it starts the next record
            number += 1
            if number >= len(pieces):
                break
            piece, at = pieces[number], 0
            if len(piece) < 3:
                break
        length, flags = struct.unpack_from("<HB", piece, at)
        at += 3
        runs = extra = 0
        if flags & 0x08 and at + 2 <= len(piece):
            runs = struct.unpack_from("<H", piece, at)[0]
            at += 2
        if flags & 0x04 and at + 4 <= len(piece):
            extra = max(0, struct.unpack_from("<i", piece, at)[0])
            at += 4
        lengths.append(length)
        left, width = length, 2 if flags & 0x01 else 1
        while left:
            taken = min(left, (len(piece) - at) // width)
            at += taken * width
            left -= taken
            if left:
                number += 1
                if number >= len(pieces):
                    return lengths
                piece = pieces[number]
                width, at = (2 if piece[:1] and piece[0] & 0x01 else 1), 1
        skip = 4 * runs + extra
        while skip:
            taken = min(skip, len(piece) - at)
            at += taken
            skip -= taken
            if skip:
                number += 1
                if number >= len(pieces):
                    return lengths
                piece, at = pieces[number], 0
    return lengths


def biff_substream(stream: bytes, offset: int) -> Iterator[tuple[int, bytes]]:
    """Records from the BOF at ``offset`` to its matching EOF (embedded charts nest)."""
    for kind, at, length in biff_records(stream, offset):
        yield kind, stream[at:at + length]


def biff_records(stream: bytes, offset: int) -> Iterator[tuple[int, int, int]]:
    """Each record's type, where its data starts and its length, from the BOF at ``offset``
    to its matching EOF; the records of nested substreams (an embedded chart's) and those cut
    off by the end of the stream are left out.  No record is copied: a large sheet has a
    million."""
    depth, end = 0, len(stream)
    unpack = struct.unpack_from
    while offset + 4 <= end:
        kind, length = unpack("<HH", stream, offset)
        offset += 4 + length
        if kind in _BOF:
            depth += 1
        elif kind == _EOF:
            depth -= 1
            if depth <= 0:
                return
        elif depth == 1 and offset <= end:
            yield kind, offset - length, length


def biff_sheet_name(body: bytes, biff8: bool) -> str:
    length = body[6]
    if not biff8:
        return body[7: 7 + length].decode("cp1252", "replace")
    if body[7] & 1:
        return body[8: 8 + 2 * length].decode("utf-16-le", "replace")
    return body[8: 8 + length].decode("latin-1")


