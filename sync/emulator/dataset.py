"""Data sets to start the emulator with: generated (realistic and deterministic) or read from a
seed file (JSON or CSV).

A ``Dataset`` holds records exactly as GET returns them, ready for ``Store.load``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from sync.errors import EmulatorRefusalError, InputError
from sync.schema import (
    ACTIVE,
    DESCRIPTION,
    EDITED,
    ID,
    LINE_NUMBER,
    PROCESS_ID,
    PRODUCT_DWELL_MINUTES,
    PRODUCT_ID,
    PRODUCT_MINUTES,
    field_for_header,
    header_token,
)

from .rules import (
    BARCODE,
    COLUMN,
    CREATED,
    CREATED_BY,
    CREATED_WITH,
    EDITED_BY,
    EDITED_WITH,
    OPERATION_TYPE,
    PROCESS_NAME,
    PROCESSES,
    PRODUCTS,
    Catalog,
)
from .store import LINE_ORDER, Rows, Store

Record = dict[str, Any]


@dataclass
class Dataset:
    products: list[Record] = field(default_factory=list)
    processes: list[Record] = field(default_factory=list)
    #: A list of records, or (generated) ``Rows``, which read as records.
    lines: Sequence[Record] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.products)} products, {len(self.processes)} processes, "
            f"{len(self.lines)} lines"
        )


# --------------------------------------------------------------------------- generated

# (name, operation type, descriptions) in the order a routing runs through them; a "{}" in a
# description takes one of the values listed after it.
_NUMS = tuple(range(2, 13))
_RAL = (1013, 3020, 5010, 6005, 7016, 9005, 9010)
_PROCESSES: tuple[tuple[str, str, tuple[tuple[str, tuple[Any, ...]], ...]], ...] = (
    ("Cutting", "Fabrication", (("Cut to length {} mm", tuple(range(40, 2400, 10))),
                                ("Laser cut from {} mm sheet", (1, 2, 3, 4, 6)))),
    ("Deburring", "Fabrication", (("Deburr all edges", ()), ("Tumble deburr {} min", (10, 20)))),
    ("Bending", "Fabrication", (("Bend to {} degrees", (45, 90, 135)),
                                ("Press brake, {} bends", _NUMS))),
    ("Drilling", "Machining", (("Drill {} holes", _NUMS), ("Drill and countersink {} holes",
                                                           _NUMS))),
    ("Machining", "Machining", (("CNC mill per drawing rev {}", tuple("ABCDE")),
                                ("Turn to diameter {} mm", tuple(range(10, 200, 5))))),
    ("Welding", "Fabrication", (("MIG weld seams", ()), ("TIG weld {} tabs", _NUMS),
                                ("Spot weld {} points", _NUMS))),
    ("Grinding", "Finishing", (("Grind welds flush", ()), ("Surface grind to spec", ()))),
    ("Powder Coating", "Finishing", (("Powder coat RAL {}", _RAL),
                                     ("Powder coat, cure {} min", (10, 20, 30)))),
    ("Painting", "Finishing", (("Wet paint RAL {}", _RAL), ("Primer and top coat", ()))),
    ("Assembly", "Assembly", (("Assemble with {} fasteners", _NUMS),
                              ("Fit bushings and label", ()))),
    ("Inspection", "Quality", (("Visual inspection", ()),
                               ("Measure {} dimensions, log results", _NUMS))),
    ("Packaging", "Shipping", (("Pack {} per carton", _NUMS), ("Shrink wrap on pallet", ()))),
)
_ITEMS = ("Mounting Bracket", "Hinge Plate", "Base Frame", "Cover Panel", "Support Arm",
          "Flange", "Gusset", "Shelf", "Enclosure", "Rail", "Clamp", "Spacer", "Housing",
          "Door Panel", "Foot Plate", "Cross Beam")
_MATERIALS = ("Steel", "Stainless", "Aluminium", "Galvanised", "Brass")
_USERS = ("j.smith", "m.garcia", "a.kowalski", "l.chen", "s.okafor", "admin")
_TOOLS = ("Web", "Import")
_DWELLS = (0, 5, 10, 15, 30, 60, 120, 240, 480)
_EPOCH = dt.datetime(2023, 1, 9, 7, 0, 0)
_EPOCH_SECOND = _EPOCH.hour * 3600 + _EPOCH.minute * 60 + _EPOCH.second
_DAYS = 400 + 60 + 2        # created within 400 days, edited up to 60 days after
_INACTIVE = "InActive"
# Version 4 and the RFC 4122 variant, set the way uuid.UUID(int=..., version=4) sets them.
_UUID_CLEAR = ~(0xC000 << 48 | 0xF000 << 64)
_UUID_V4 = 0x8000 << 48 | 0x4000 << 64

# The values of a generated line in the order they are drawn, then its creation number;
# ``_IN_LINE_ORDER`` rearranges them into a stored row (``store.LINE_ORDER``) in one C call.
_DRAWN = tuple(COLUMN[f.name] for f in (
    ID, PRODUCT_ID, PROCESS_ID, PROCESS_NAME, OPERATION_TYPE, LINE_NUMBER, ACTIVE, DESCRIPTION,
    PRODUCT_MINUTES, PRODUCT_DWELL_MINUTES, CREATED, CREATED_BY, CREATED_WITH, EDITED,
    EDITED_BY, EDITED_WITH))
_IN_LINE_ORDER = itemgetter(*(_DRAWN.index(column) for column in LINE_ORDER), len(_DRAWN))
# Minutes are quarter hours from 0.5 to 45, and dwells one of _DWELLS: as text, made once.
_MINUTES_TEXT = tuple(f"{quarters / 4:g}" for quarters in range(181))
_DWELL_TEXT = tuple(str(d) for d in _DWELLS)

_Option = TypeVar("_Option")


def generate_dataset(products: int, lines: int, seed: int = 1) -> Dataset:
    """A realistic data set: ``products`` products with ``lines`` routing lines each (numbered
    1..lines) over twelve named processes.  The same seed always gives the same data."""
    if products < 0 or lines < 0:
        raise ValueError("products and lines must not be negative")
    rng = random.Random(seed)
    # rng.random() indexing is several times faster than rng.choice/randrange, and the
    # benchmark generates 100,000 lines at start-up.
    draw = rng.random

    def pick(options: tuple[_Option, ...]) -> _Option:
        return options[int(draw() * len(options))]

    def uid() -> str:
        # Same text as str(uuid.UUID(int=rng.getrandbits(128), version=4)), three times faster.
        digits = "%032x" % (rng.getrandbits(128) & _UUID_CLEAR | _UUID_V4)
        return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"

    def description(step: int) -> str | None:
        if draw() < 0.15:
            return None
        text, values = pick(_PROCESSES[step][2])
        return text.format(pick(values)) if values else text

    processes = [
        {
            PROCESSES.key: uid(),
            PROCESSES.name: name,
            BARCODE: f"PRC-{n:04d}",
            ACTIVE.name: ACTIVE.default,
            OPERATION_TYPE.name: operation,
        }
        for n, (name, operation, _) in enumerate(_PROCESSES, start=1)
    ]
    rows: list[tuple[Any, ...]] = []
    dataset = Dataset(processes=processes, lines=Rows(rows))
    # Repeated values are one shared string each, as the store keeps them.
    shared: dict[str | None, str | None] = {}
    share = shared.setdefault
    numbers = [str(n) for n in range(max(lines, len(processes)) + 1)]
    steps_all = tuple(range(len(processes)))
    days = [(_EPOCH.date() + dt.timedelta(days=d)).isoformat() for d in range(_DAYS)]

    def timestamp(seconds: int) -> str:
        # _EPOCH + seconds as isoformat(" ") gives it, from the day's text made once.
        day, second = divmod(seconds + _EPOCH_SECOND, 86400)
        hour, second = divmod(second, 3600)
        minute, second = divmod(second, 60)
        return f"{days[day]} {hour:02d}:{minute:02d}:{second:02d}"

    for n in range(1, products + 1):
        product_id = uid()
        item = pick(_ITEMS)
        code = "".join(word[0] for word in item.split()) + f"-{1000 + n}"
        dataset.products.append({
            PRODUCTS.key: product_id,
            PRODUCTS.name: f"{pick(_MATERIALS)} {item} {code}",
            BARCODE: _ean13(rng),
            ACTIVE.name: _INACTIVE if draw() < 0.03 else ACTIVE.default,
        })
        if lines <= len(processes):
            steps = sorted(sorted(steps_all, key=lambda _: draw())[:lines])
        else:
            steps = sorted(pick(steps_all) for _ in range(lines))
        for line_number, step in enumerate(steps, start=1):
            process = processes[step]
            created = int(draw() * 400 * 86400)     # seconds after _EPOCH
            # The picks of every line are written out: a million lines are generated at
            # start-up, and a call per pick is a good part of that time.
            user = _USERS[int(draw() * len(_USERS))]
            record_id = uid()
            active = _INACTIVE if draw() < 0.05 else ACTIVE.default
            text = description(step)
            minutes = _MINUTES_TEXT[int(2 + draw() * 179)]
            dwell = None if draw() < 0.4 else _DWELL_TEXT[int(draw() * len(_DWELL_TEXT))]
            stamp = edited = timestamp(created)
            tool = _TOOLS[int(draw() * len(_TOOLS))]
            edited_by = user
            if draw() < 0.3:  # edited later by someone, maybe someone else
                edited = timestamp(created + 1 + int(draw() * 60 * 86400))
                edited_by = _USERS[int(draw() * len(_USERS))]
            rows.append(_IN_LINE_ORDER((
                record_id, product_id, process[PROCESSES.key], process[PROCESSES.name],
                process[OPERATION_TYPE.name], numbers[line_number], active, share(text, text),
                minutes, dwell, stamp, user, tool, edited, edited_by, tool, len(rows))))
    return dataset


def _ean13(rng: random.Random) -> str:
    digits = [4, 0, 0, *map(int, f"{rng.getrandbits(30):09d}"[:9])]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


# --------------------------------------------------------------------------- seed files

def load_seed(path: str | Path) -> Dataset:
    """Read a seed file: JSON (an object with ``products``, ``processes`` and ``lines`` lists,
    or just a list of lines) or CSV (one line per row; headers as a sheet may spell them, and
    optional ``product`` / ``process`` name columns).  Products and processes that lines name
    but the file does not list are created.  Raises InputError with the row at fault."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"Cannot read the seed file {path}: {error.strerror}.") from None
    builder = _SeedBuilder(path.name)
    if path.suffix.lower() == ".json":
        builder.from_json(data)
    else:
        builder.from_csv(data)
    return builder.dataset()


_PRODUCT_NAME_TOKEN = header_token(PRODUCTS.name)
_PROCESS_NAME_TOKEN = header_token(PROCESS_NAME.name)


class _SeedBuilder:
    """Stages seed records in a scratch store, so seeds obey the same rules as requests."""

    def __init__(self, filename: str) -> None:
        self._filename = filename
        self._store = Store()

    def dataset(self) -> Dataset:
        store = self._store
        return Dataset(store.products(), store.processes(), store.lines())

    def from_json(self, data: bytes) -> None:
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InputError(f"{self._filename} is not valid JSON: {error}.") from None
        if isinstance(document, list):
            document = {"lines": document}
        sections = ("products", "processes", "lines")
        if not isinstance(document, dict) or not all(
            isinstance(document.get(s, []), list) for s in sections
        ):
            raise InputError(
                f"{self._filename} must hold a JSON object with products, processes and "
                "lines lists (or a list of lines)."
            )
        for section, add in (("products", self._store.add_product),
                             ("processes", self._store.add_process)):
            for n, record in enumerate(document.get(section, []), start=1):
                self._guard(f"{section}[{n}]", add, record)
        for n, record in enumerate(document.get("lines", []), start=1):
            if not isinstance(record, Mapping):
                raise InputError(f"{self._filename} lines[{n}]: a line must be a JSON object.")
            self._line(dict(record), f"lines[{n}]")

    def from_csv(self, data: bytes) -> None:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        try:
            dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        rows = csv.reader(io.StringIO(text), dialect)
        header = next(rows, None)
        if not header:
            raise InputError(f"{self._filename} is empty.")
        columns: list[str | None] = []
        for title in header:
            f = field_for_header(title)
            token = header_token(title)
            if f is not None:
                columns.append(f.name)
            elif token == _PRODUCT_NAME_TOKEN:
                columns.append(PRODUCTS.name)
            elif token == _PROCESS_NAME_TOKEN:
                columns.append(PROCESS_NAME.name)
            else:
                columns.append(None)  # a column the emulator does not keep
        for row_number, row in enumerate(rows, start=2):
            record = {
                name: cell.strip()
                for name, cell in zip(columns, row, strict=False)
                if name is not None and cell.strip()
            }
            if record:
                self._line(record, f"row {row_number}")

    def _line(self, record: Record, where: str) -> None:
        # Names travel beside the ids in seeds; the line itself derives them from the process.
        product_name = record.pop(PRODUCTS.name, None)
        process_name = record.pop(PROCESS_NAME.name, None)
        record.pop(OPERATION_TYPE.name, None)
        self._guard(where, self._stage_line, record, product_name, process_name)

    def _stage_line(self, record: Record, product_name: Any, process_name: Any) -> None:
        self._ensure(PRODUCTS, record.get(PRODUCT_ID.name), product_name)
        self._ensure(PROCESSES, record.get(PROCESS_ID.name), process_name)
        self._store.add_line(record)

    def _ensure(self, catalog: Catalog, key: Any, name: Any) -> None:
        if not key:
            return  # add_line reports the missing id
        if not self._store.select_catalog(catalog, {catalog.key: str(key)}):
            label = name or f"{catalog.noun.title()} {str(key)[:8]}"
            self._store.create_catalog(catalog, {catalog.key: key, catalog.name: label})

    def _guard(self, where: str, action: Callable[..., Any], *args: Any) -> None:
        try:
            action(*args)
        except EmulatorRefusalError as error:
            raise InputError(f"{self._filename} {where}: {error}") from None
