"""ISA-L's deflate in zipfile's streams: the same bytes in and out as zlib, zlib's errors."""

from __future__ import annotations

import io
import random
import zipfile
import zlib

import pytest

from sync.zipdeflate import deflate_fast, open_member, uses_isal

XML = b"".join(b'<row r="%d"><c r="A%d" t="inlineStr"><is><t>line %d</t></is></c></row>'
               % (n, n, random.Random(n).randrange(10**6)) for n in range(1, 40_000))


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as package:
        for name, data in members.items():
            package.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("chunk", [1, 4096, 1 << 20, -1])
def test_open_member_reads_what_zipfile_reads(chunk: int) -> None:
    package = zipfile.ZipFile(io.BytesIO(_zip({"sheet.xml": XML, "empty.xml": b""})))
    with open_member(package, "sheet.xml") as stream:
        assert uses_isal(stream)
        if chunk == -1:
            read = stream.read()
        else:
            parts = []
            while part := stream.read(chunk if chunk > 1 else 997):
                parts.append(part)
            read = b"".join(parts)
    assert read == XML
    with open_member(package, "empty.xml") as stream:
        assert stream.read() == b""


def test_stored_members_are_read_as_zipfile_reads_them() -> None:
    package = zipfile.ZipFile(io.BytesIO(_zip({"sheet.xml": XML}, zipfile.ZIP_STORED)))
    with open_member(package, "sheet.xml") as stream:
        assert not uses_isal(stream)
        assert stream.read() == XML


def test_a_damaged_member_raises_zlibs_errors() -> None:
    """Callers that handle a damaged file catch zlib.error (or zipfile's bad CRC)."""
    data = bytearray(_zip({"sheet.xml": XML}))
    start = data.index(b"sheet.xml") + len(b"sheet.xml")   # the local header's name ends
    raised = set()
    for offset in range(20, 4000, 200):
        damaged = bytearray(data)
        damaged[start + offset:start + offset + 30] = bytes(30)
        package = zipfile.ZipFile(io.BytesIO(bytes(damaged)))
        with pytest.raises((zlib.error, zipfile.BadZipFile)) as caught, \
                open_member(package, "sheet.xml") as stream:
            while stream.read(1 << 16):
                pass
        raised.add(caught.type)
    assert zlib.error in raised


def test_deflate_fast_writes_a_member_zipfile_and_zlib_read_back() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as out:
        with out.open("sheet.xml", "w") as stream:
            deflate_fast(stream)
            assert uses_isal(stream)
            for start in range(0, len(XML), 65_536):
                stream.write(XML[start:start + 65_536])
    package = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    assert package.testzip() is None                       # the CRC matches
    assert package.read("sheet.xml") == XML                # inflated by zlib
    assert package.getinfo("sheet.xml").compress_size < len(XML) // 5


def test_deflate_fast_leaves_a_stored_member_stored() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out, out.open("sheet.xml", "w") as stream:
        deflate_fast(stream)
        assert not uses_isal(stream)
        stream.write(XML)
    package = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    assert package.getinfo("sheet.xml").compress_type == zipfile.ZIP_STORED
    assert package.read("sheet.xml") == XML
