"""Regenerate the committed round-trip fixtures (needs LibreOffice's ``soffice``):

    .venv/bin/python tests/roundtrip/data/make_fixtures.py

* ``seed.json``: the emulator's data set (4 products x 3 lines, with formula-like texts);
  kept as it is when it exists, so the fixtures below stay true to it;
* ``export_lo.xlsx``: ``export`` of that data, opened and saved by LibreOffice;
* ``edited_lo.xlsx``: the same export edited with openpyxl (``conftest.edit_export``), then
  saved by LibreOffice.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent.parent)]

from roundtrip_kit import EDITED_LO, EXPORT_LO, SEED, edit_export, libreoffice_copy  # noqa: E402
from sheetkit import token_connection  # noqa: E402

from sync.emulator import EmulatorThread, generate_dataset, load_seed  # noqa: E402
from sync.exporting import export_lines  # noqa: E402


def write_seed() -> None:
    data = generate_dataset(4, 3)
    # Text a spreadsheet would run as a formula: it must come back as the same text.
    for line, text in zip(data.lines, ("=1+2", "+49 30 1234", "@risk -check"), strict=False):
        line["description"] = text
    data.products[0]["product"] = "=Danger Bracket"
    SEED.write_text(json.dumps({"products": data.products, "processes": data.processes,
                                "lines": data.lines}, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    if not SEED.exists():
        write_seed()
    with tempfile.TemporaryDirectory() as folder, EmulatorThread(
            dataset=load_seed(SEED)) as emu:
        work = Path(folder)
        exported = asyncio.run(export_lines(token_connection(emu.base_url),
                                            work / "export_lo.xlsx"))
        edited = work / "edited_lo.xlsx"
        edit_export(exported, edited)
        for source, target in ((exported, EXPORT_LO), (edited, EDITED_LO)):
            copy = libreoffice_copy(source, work / "lo")
            if copy is None:
                raise SystemExit("soffice (LibreOffice) is needed to make these fixtures")
            copy.replace(target)
            print(f"wrote {target}")


if __name__ == "__main__":
    main()
