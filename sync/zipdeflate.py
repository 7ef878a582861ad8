"""ISA-L's deflate for the large zip members: the data sheet's XML, read and written.

A 100,000-row sheet is about 70 MB of XML.  zlib inflates that in about 0.1 s and deflates
it (level 1) in about 0.4 s; ISA-L (python-isal) takes about a third of the one and a quarter
of the other, writes the same format (a little smaller at level 1), and releases the GIL while
it works.  zipfile has no hook for another deflate library, so a member stream zipfile opened
gets ISA-L's inflater or deflater before its first byte moves.  Where a stream does not look
as expected (another Python's zipfile), it keeps zlib's: slower, the same bytes in and out.
"""

from __future__ import annotations

import zipfile
import zlib
from typing import IO, cast

from isal import isal_zlib

__all__ = ["deflate_fast", "open_member", "uses_isal"]

_ZLIB_INFLATER = type(zlib.decompressobj(-15))
_ZLIB_DEFLATER = type(zlib.compressobj(1, zlib.DEFLATED, -15))
_ISAL_DEFLATER = type(isal_zlib.compressobj(1, isal_zlib.DEFLATED, -15))
#: isal's stub declares ``error: Exception`` (an instance); at run time it is the class.
_ISAL_ERROR = cast(type[Exception], isal_zlib.error)
#: ISA-L's levels are 0-3; its 1 compresses about as well as zlib's 1-2, four times faster.
LEVEL = 1


class _Inflater:
    """ISA-L's inflater with the face zipfile expects of zlib's, zlib's error type included
    (callers that handle a damaged file catch ``zlib.error``)."""

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner = isal_zlib.decompressobj(-15)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        try:
            return self._inner.decompress(data, max_length)
        except _ISAL_ERROR as exc:
            raise zlib.error(str(exc)) from None

    def flush(self, length: int = zlib.DEF_BUF_SIZE) -> bytes:
        try:
            return self._inner.flush(length)
        except _ISAL_ERROR as exc:
            raise zlib.error(str(exc)) from None

    @property
    def eof(self) -> bool:
        return self._inner.eof

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return self._inner.unused_data


def open_member(package: zipfile.ZipFile, name: str) -> IO[bytes]:
    """``package.open(name)`` for reading, inflated by ISA-L when the member is deflated."""
    stream = package.open(name)
    if isinstance(getattr(stream, "_decompressor", None), _ZLIB_INFLATER):
        stream._decompressor = _Inflater()  # type: ignore[attr-defined]
    return stream


def deflate_fast(stream: IO[bytes]) -> None:
    """Make a member stream opened with ``ZipFile.open(name, "w")`` (deflated) compress with
    ISA-L at ``LEVEL``; call it before the first write."""
    if isinstance(getattr(stream, "_compressor", None), _ZLIB_DEFLATER):
        stream._compressor = isal_zlib.compressobj(  # type: ignore[attr-defined]
            LEVEL, isal_zlib.DEFLATED, -15)


def uses_isal(stream: IO[bytes]) -> bool:
    """Whether ``stream`` inflates or deflates with ISA-L (for tests and ``-v`` logs)."""
    return (isinstance(getattr(stream, "_decompressor", None), _Inflater)
            or isinstance(getattr(stream, "_compressor", None), _ISAL_DEFLATER))
