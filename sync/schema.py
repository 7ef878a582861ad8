"""The one place that knows the fields of a Flowtrac product-process line.

Every other module asks this one for names, aliases, flags and value rules; none of them lists
field names of its own.  Values are handled in three shapes:

* *cell*: whatever a spreadsheet reader hands over (str, int, float, datetime, None, NaN);
* *canonical*: the normalised Python value used for comparing by meaning
  (uuid -> lower-case str, line number -> int, minutes -> Decimal, active -> "Active"/"InActive",
  text -> str, timestamps -> str); ``None`` means blank / null;
* *wire*: what travels in JSON to the server (strings, as the vendor's examples show).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from sync.errors import InvalidValueError


class Kind(StrEnum):
    UUID = "uuid"
    LINE_NUMBER = "line_number"
    MINUTES = "minutes"
    STATUS = "status"
    TEXT = "text"
    TIMESTAMP = "timestamp"
    #: A name or barcode standing for an id (see ``Reference``): text, resolved, never sent.
    REFERENCE = "reference"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    label: str
    help: str
    required_on_create: bool = False
    nullable: bool = True
    immutable: bool = False
    read_only: bool = False
    default: str | None = None
    # Extra header spellings, compared after ``header_token``; the canonical name is implied.
    aliases: tuple[str, ...] = ()
    # Names a server may use for this field in JSON (first = the name we send).
    wire_names: tuple[str, ...] = ()
    # The column name the GET filter syntax uses for this field.
    filter_name: str | None = None

    @property
    def wire_name(self) -> str:
        return self.wire_names[0] if self.wire_names else self.name

    @property
    def writable(self) -> bool:
        return not self.read_only and self.name != "id"

    def parse(self, cell: Any, *, decimal_comma: bool = False) -> Any:
        """Cell value -> canonical value (``None`` for blank); raises InvalidValueError."""
        return _PARSERS[self.kind](self, cell, decimal_comma)

    def to_wire(self, value: Any) -> str | None:
        """Canonical value -> JSON value sent to the server."""
        if value is None:
            return None
        if self.kind is Kind.MINUTES:
            return format_decimal(value)
        return str(value)

    def from_wire(self, value: Any) -> Any:
        """Server JSON value -> canonical value; lenient, never raises for odd server data."""
        if self.is_canonical(value):
            return value          # the usual uuid or timestamp: nothing to parse
        try:
            return self.parse(value)
        except InvalidValueError:
            return None if value is None else str(value).strip()

    def is_canonical(self, value: Any) -> bool:
        """True for text that ``parse`` and ``from_wire`` return as it is: a uuid or a
        timestamp already in canonical form.  A shortcut for the columns whose values are
        mostly distinct (ids, timestamps), where remembering each value would not help."""
        canonical = _CANONICAL_FORMS.get(self.kind)
        return canonical is not None and value.__class__ is str and \
            canonical(value) is not None

    def all_canonical(self, values: Collection[Any]) -> bool:
        """``is_canonical`` of every value, checked on the joined values by a few passes of
        C-level byte counting: a column of 100,000 ids costs milliseconds."""
        form = _CANONICAL_LAYOUTS.get(self.kind)
        if form is None or not values:
            return False
        try:
            data = "\n".join(values).encode("ascii")
        except (TypeError, UnicodeEncodeError):      # a value that is not plain text
            return False
        return form.holds(data, len(values))

    def same(self, a: object, b: object) -> bool:
        """Equal by meaning (both values canonical)."""
        return a == b


def header_token(text: Any) -> str:
    """Header as compared: case, spaces, ``_``, ``-`` and ``.`` ignored."""
    return re.sub(r"[\s_\-.]+", "", str(text)).lower()


# --------------------------------------------------------------------------- value parsers

_UUID_RE = re.compile(
    r"^\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$")


def is_blank(cell: Any) -> bool:
    if cell is None:
        return True
    if isinstance(cell, float) and math.isnan(cell):
        return True
    if isinstance(cell, str) and not cell.strip():
        return True
    try:  # pandas.NA / NaT without importing pandas here
        return bool(cell != cell)
    except (TypeError, ValueError):
        return False


def _show(cell: Any) -> str:
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # spreadsheet readers hand whole numbers over as floats
    text = str(cell).strip()
    if len(text) > 60:
        text = text[:57] + "..."
    return f'"{text}"'


def _parse_uuid(f: Field, cell: Any, _dc: bool) -> str | None:
    if is_blank(cell):
        return None
    m = _UUID_RE.match(str(cell).strip().lower())
    if not m:
        raise InvalidValueError(f"{f.name} must be a uuid, got {_show(cell)}")
    return "-".join(m.groups())


def _whole_number(f: Field, cell: Any) -> int:
    bad = InvalidValueError(f"{f.name} must be a positive whole number, got {_show(cell)}")
    if isinstance(cell, bool):
        raise bad
    if isinstance(cell, int):
        number: Decimal = Decimal(cell)
    else:
        try:
            number = Decimal(repr(cell)) if isinstance(cell, float) else Decimal(str(cell).strip())
        except InvalidOperation:
            raise bad from None
        if not number.is_finite():
            raise bad
    if number != number.to_integral_value() or number < 1:
        raise bad
    if number > 2_147_483_647:
        raise InvalidValueError(f"{f.name} is too large, got {_show(cell)}")
    return int(number)


def _parse_line_number(f: Field, cell: Any, _dc: bool) -> int | None:
    if is_blank(cell):
        return None
    return _whole_number(f, cell)


def _parse_minutes(f: Field, cell: Any, decimal_comma: bool) -> Decimal | None:
    if is_blank(cell):
        return None
    bad = InvalidValueError(f"{f.name} must be a number of minutes >= 0, got {_show(cell)}")
    if isinstance(cell, bool):
        raise bad
    if isinstance(cell, int):
        number = Decimal(cell)
    elif isinstance(cell, float):
        if not math.isfinite(cell):
            raise bad
        number = Decimal(repr(cell))
    elif isinstance(cell, Decimal):
        number = cell
    else:
        text = str(cell).strip().replace("\u00a0", "").replace(" ", "")
        if decimal_comma and "," in text:
            text = text.replace(".", "").replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise bad from None
    if not number.is_finite() or number < 0:
        raise bad
    # Canonical form: no exponent, no trailing zeros, so "5.00" == 5 == "5".
    try:
        return _normal_decimal(number)
    except ArithmeticError:  # beyond the decimal context's precision, e.g. "1e30"
        raise InvalidValueError(f"{f.name} is too large, got {_show(cell)}") from None


def _normal_decimal(number: Decimal) -> Decimal:
    number = number.normalize()
    if number == 0:
        return Decimal(0)
    sign, digits, exponent = number.as_tuple()
    if isinstance(exponent, int) and exponent > 0:
        number = number.quantize(Decimal(1))
    return number


def format_decimal(value: Decimal | int | float) -> str:
    number = _normal_decimal(Decimal(str(value)))
    return format(number, "f")


_STATUS = {"active": "Active", "inactive": "InActive"}
#: The values an ``active`` cell may hold, as the server spells them.
STATUS_VALUES: tuple[str, ...] = tuple(_STATUS.values())


def _parse_status(f: Field, cell: Any, _dc: bool) -> str | None:
    if is_blank(cell):
        return None
    token = re.sub(r"[\s_\-]+", "", str(cell)).lower()
    if token not in _STATUS:
        raise InvalidValueError(f"{f.name} must be Active or InActive, got {_show(cell)}")
    return _STATUS[token]


def _parse_text(f: Field, cell: Any, _dc: bool) -> str | None:
    if is_blank(cell):
        return None
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)  # a number typed into a text column: 12 not "12.0"
    if isinstance(cell, (_dt.datetime, _dt.date)):
        cell = cell.isoformat(sep=" ") if isinstance(cell, _dt.datetime) else cell.isoformat()
    text = str(cell).strip()
    if len(text) > 1 and text[0] == "'" and is_formula_like(text[1:]):
        # The quote prefix that keeps formula-like text as text (an export's CSV writes it,
        # Excel strips it the same way when the text is typed): the value is what follows.
        text = text[1:]
    if "\x00" in text:
        raise InvalidValueError(f"{f.name} must not contain NUL characters")
    if len(text) > MAX_TEXT:
        raise InvalidValueError(f"{f.name} is longer than {MAX_TEXT} characters ({len(text)})")
    return text


def _parse_timestamp(f: Field, cell: Any, _dc: bool) -> str | None:
    if is_blank(cell):
        return None
    if isinstance(cell, _dt.datetime):
        return cell.replace(microsecond=cell.microsecond).isoformat(sep=" ")
    text = str(cell).strip()
    try:
        return _dt.datetime.fromisoformat(text.replace("T", " ")).isoformat(sep=" ")
    except ValueError:
        return text


MAX_TEXT = 4000
#: First characters that make a spreadsheet take typed text for a formula: ``= + - @``, their
#: full-width forms (as an East Asian keyboard types them) and the minus sign U+2212.
FORMULA_START = "=+-@\uff1d\uff0b\uff0d\uff20\u2212"


def is_formula_like(text: str) -> bool:
    """True for text a spreadsheet would take for a formula when typed into a cell: it starts
    with a ``FORMULA_START`` character, also after blanks, or with a tab or CR.  The one check
    of every writer (the reports' and exports' quote prefix, the CSV export's ``'``)."""
    if not text:
        return False
    first = text[0]
    if first in FORMULA_START or first in "\t\r":
        return True
    if first.isspace():
        stripped = text.lstrip()
        return bool(stripped) and stripped[0] in FORMULA_START
    return False

#: Text that is its own canonical value, by kind (see ``Field.is_canonical``).  A timestamp
#: with a fraction is left out: ``.000000`` would be dropped.
_CANONICAL_PATTERNS: dict[Kind, str] = {
    Kind.UUID: r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    Kind.TIMESTAMP: r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}",
}
_CANONICAL_FORMS: dict[Kind, Callable[[str], Any]] = {
    kind: re.compile(pattern).fullmatch for kind, pattern in _CANONICAL_PATTERNS.items()}


@dataclass(frozen=True)
class _Layout:
    """A fixed-width text: ``marks`` (position -> character) at fixed places, ``digits``
    (bytes) everywhere else.  Spells out the same texts as ``_CANONICAL_PATTERNS``."""

    width: int
    marks: dict[int, int]
    digits: bytes

    def holds(self, data: bytes, count: int) -> bool:
        """``data`` is ``count`` such texts joined by line breaks."""
        stride = self.width + 1
        if len(data) != stride * count - 1:
            return False
        marks = {**self.marks, self.width: ord("\n")}
        for position, char in marks.items():
            column = data[position::stride]
            if column.count(char) != len(column):
                return False              # a mark missing from its place
        wanted: dict[int, int] = {}
        for char in marks.values():
            wanted[char] = wanted.get(char, 0) + 1
        for char, places in wanted.items():
            if data.count(char) != places * count - (char == ord("\n")):
                return False              # a mark character elsewhere too
        return not data.translate(None, self.digits + bytes(wanted))


_CANONICAL_LAYOUTS: dict[Kind, _Layout] = {
    Kind.UUID: _Layout(36, {8: ord("-"), 13: ord("-"), 18: ord("-"), 23: ord("-")},
                       b"0123456789abcdef"),
    Kind.TIMESTAMP: _Layout(19, {4: ord("-"), 7: ord("-"), 10: ord(" "), 13: ord(":"),
                                 16: ord(":")}, b"0123456789"),
}

_PARSERS: dict[Kind, Callable[[Field, Any, bool], Any]] = {
    Kind.UUID: _parse_uuid,
    Kind.LINE_NUMBER: _parse_line_number,
    Kind.MINUTES: _parse_minutes,
    Kind.STATUS: _parse_status,
    Kind.TEXT: _parse_text,
    Kind.TIMESTAMP: _parse_timestamp,
    Kind.REFERENCE: _parse_text,
}


# --------------------------------------------------------------------------- the fields

FIELDS: tuple[Field, ...] = (
    Field("id", Kind.UUID, "Line id", "The line's id in Flowtrac. Leave blank for a new line; "
          "keep it to change an existing one.", nullable=False, read_only=False,
          aliases=("sync_id",), filter_name="id"),
    Field("product_id", Kind.UUID, "Product id", "The product's id (uuid). Cannot be changed "
          "on an existing line.", required_on_create=True, nullable=False, immutable=True,
          filter_name="product_id"),
    Field("process_id", Kind.UUID, "Process id", "The process's id (uuid).",
          required_on_create=True, nullable=False, filter_name="process_id"),
    Field("line_number", Kind.LINE_NUMBER, "Line number", "Position of the process in the "
          "product's routing: a whole number from 1.", required_on_create=True, nullable=False,
          filter_name="line_number"),
    Field("active", Kind.STATUS, "Active", "Active or InActive; blank means Active for a new "
          "line and 'leave as is' for an existing one.", nullable=False, default="Active",
          filter_name="active"),
    Field("description", Kind.TEXT, "Description", "Free text; a blank cell clears it.",
          filter_name="description"),
    Field("product_minutes", Kind.MINUTES, "Product minutes", "Minutes the process takes for "
          "the product: a number >= 0; a blank cell clears it.", filter_name="product_minutes"),
    Field("product_dwell_minutes", Kind.MINUTES, "Dwell minutes", "Dwell minutes: a number "
          ">= 0; a blank cell clears it.", aliases=("product_dwell_mintues", "dwell_minutes"),
          wire_names=("product_dwell_minutes", "product_dwell_mintues"),
          filter_name="product_dwell_mintues"),
    # Read-only columns the server maintains and GET returns.
    Field("operation_type", Kind.TEXT, "Operation type", "Set by Flowtrac.", read_only=True,
          filter_name="operation_type"),
    Field("process", Kind.TEXT, "Process", "The process's name, set by Flowtrac.",
          read_only=True, filter_name="process"),
    Field("created", Kind.TIMESTAMP, "Created", "Set by Flowtrac.", read_only=True,
          filter_name="created"),
    Field("created_by", Kind.TEXT, "Created by", "Set by Flowtrac.", read_only=True,
          filter_name="created_by"),
    Field("created_with", Kind.TEXT, "Created with", "Set by Flowtrac.", read_only=True,
          filter_name="created_with"),
    Field("edited", Kind.TIMESTAMP, "Edited", "When Flowtrac last changed the line. Keep it: "
          "if the line was changed on the server since, the row becomes a conflict.",
          read_only=True, filter_name="edited"),
    Field("edited_by", Kind.TEXT, "Edited by", "Set by Flowtrac.", read_only=True,
          filter_name="edited_by"),
    Field("edited_with", Kind.TEXT, "Edited with", "Set by Flowtrac.", read_only=True,
          filter_name="edited_with"),
)

BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

#: Fields a sheet may set on the server (everything but id and the read-only columns).
WRITABLE: tuple[Field, ...] = tuple(f for f in FIELDS if f.writable)
#: Fields required to create a line.
REQUIRED: tuple[Field, ...] = tuple(f for f in FIELDS if f.required_on_create)
#: Column names the GET filter syntax accepts.
FILTERABLE: frozenset[str] = frozenset(f.filter_name for f in FIELDS if f.filter_name)
#: The record's identity and its fixed partition (never changed by PUT).
ID = BY_NAME["id"]
PRODUCT_ID = BY_NAME["product_id"]
PROCESS_ID = BY_NAME["process_id"]
LINE_NUMBER = BY_NAME["line_number"]
ACTIVE = BY_NAME["active"]
EDITED = BY_NAME["edited"]
EDITED_BY = BY_NAME["edited_by"]
#: Fields other modules name on their own (the demo's edits, the export's context).
PROCESS = BY_NAME["process"]
DESCRIPTION = BY_NAME["description"]
PRODUCT_MINUTES = BY_NAME["product_minutes"]
PRODUCT_DWELL_MINUTES = BY_NAME["product_dwell_minutes"]
#: The default match key when a row has no id.
DEFAULT_KEY: tuple[str, ...] = (PRODUCT_ID.name, LINE_NUMBER.name)
#: Fields the sheet reads (known columns); read-only context columns other than `edited`
#: are ignored when reading a sheet.
SHEET_FIELDS: tuple[Field, ...] = (ID, *WRITABLE, EDITED)



# --------------------------------------------------------------------------- references

#: The barcode column of /api/products and /api/processes.
CATALOG_BARCODE = "barcode"


@dataclass(frozen=True)
class Reference:
    """A sheet column naming a product or process (by name or barcode) in place of its id.

    The sheet namespace and the server-record namespace are kept apart: a sheet's ``process``
    column is this reference (a name to resolve), while a server record's ``process`` is the
    read-only field in ``FIELDS`` that GET returns.  References are not in ``FIELDS``: they
    never travel on the wire, and the emulator and ``record_from_wire`` never see them.  The
    fetch stage (``sync.references``) resolves each one to its ``target`` id before the diff.
    """

    field: Field              # the sheet column (Kind.REFERENCE)
    target: Field             # the id field its resolved value fills
    noun: str                 # "product": for messages
    name_column: str          # the catalog's name column (filterable)
    barcode_column: str = CATALOG_BARCODE

    @property
    def name(self) -> str:
        return self.field.name


REFERENCES: tuple[Reference, ...] = (
    Reference(Field("product", Kind.REFERENCE, "Product", "The product's name or barcode, in "
                    "place of product_id (one of the two is required for a new line).",
                    aliases=("product_name",)),
              PRODUCT_ID, "product", "product"),
    Reference(Field("process", Kind.REFERENCE, "Process", "The process's name or barcode, in "
                    "place of process_id (one of the two is required for a new line).",
                    aliases=("process_name",)),
              PROCESS_ID, "process", "process"),
)
#: Reference column name -> its reference.
REFERENCE_BY_NAME: dict[str, Reference] = {r.name: r for r in REFERENCES}
#: Id field name -> the reference column that may stand in for it.
REFERENCE_FOR: dict[str, Reference] = {r.target.name: r for r in REFERENCES}
#: Every column a sheet may hold, by canonical name: the line's sheet fields and the reference
#: columns.  (``BY_NAME`` is the server record's namespace, where ``process`` is read-only.)
SHEET_BY_NAME: dict[str, Field] = {f.name: f for f in (*SHEET_FIELDS,
                                                        *(r.field for r in REFERENCES))}


def column_choices(name: str) -> tuple[str, ...]:
    """Sheet columns any one of which gives field ``name``: itself, and a reference column
    standing for it (``product_id`` -> ``("product_id", "product")``)."""
    reference = REFERENCE_FOR.get(name)
    return (name,) if reference is None else (name, reference.name)


def _header_index() -> dict[str, Field]:
    index: dict[str, Field] = {}
    for f in SHEET_BY_NAME.values():
        for spelling in (f.name, *f.aliases, *f.wire_names):
            index[header_token(spelling)] = f
    return index


_HEADERS = _header_index()


def field_for_header(header: Any) -> Field | None:
    """The field a sheet header names, or None for a column the tool does not manage."""
    if header is None:
        return None
    return _HEADERS.get(header_token(header))


def key_fields(names: Iterable[str]) -> tuple[Field, ...]:
    """Resolve a ``--key`` list (header spellings allowed) to fields; raises ValueError.

    A reference column means the id it resolves to (``product`` -> ``product_id``)."""
    out = []
    for name in names:
        f = field_for_header(name)
        if f is not None and f.kind is Kind.REFERENCE:
            f = REFERENCE_BY_NAME[f.name].target
        if f is None or f is ID or f.read_only:
            raise ValueError(f"--key: {name!r} is not a field that can identify a line")
        out.append(f)
    if not out:
        raise ValueError("--key needs at least one column")
    return tuple(out)


# --------------------------------------------------------------------------- server records

def record_from_wire(raw: dict[str, Any]) -> dict[str, Any]:
    """A server JSON record -> canonical record keyed by canonical field names.

    Both dwell spellings map to one field (the first non-null one wins); unknown keys are
    kept as they are.  Equal to ``Field.from_wire`` on every value, only faster: a listing of
    100,000 lines goes through here, and most of its values are canonical already or repeat
    (see ``_wire_converter``)."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        known = _WIRE_CONVERTERS.get(key)
        if known is None:
            out[key] = value
            continue
        name, convert = known
        if out.get(name) is None:
            out[name] = convert(value)
    return out


def wire_field_name(key: str) -> str:
    """The field a listing's key holds (a wire spelling's field), or the key itself."""
    known = _WIRE_CONVERTERS.get(key)
    return key if known is None else known[0]


def column_from_wire(key: str, values: Sequence[Any]) -> Sequence[Any]:
    """``record_from_wire`` of one key's values across a listing's records, sparing repeated
    work: a column of canonical uuids or timestamps is recognised at once
    (``Field.all_canonical``); in the other columns each distinct value is converted once,
    with one object for each repeated value (``_shared``).  A key the schema does not know
    keeps its values, but for one copy of a text."""
    known = _WIRE_CONVERTERS.get(key)
    return _shared(values) if known is None else _column_from_wire(*known, values)


def _column_from_wire(name: str, convert: Callable[[Any], Any],
                      values: Sequence[Any]) -> Sequence[Any]:
    """``convert`` of each value (a field's ``_wire_converter``), sparing repeated work, with
    one object for each repeated value (``_shared``)."""
    if BY_NAME[name].all_canonical(values):
        return _shared(values)  # canonical already: line ids differ, product ids repeat
    table = distinct_table(values, convert)
    if table is None:
        return list(map(convert, values))
    return list(map(table.__getitem__, values))  # one object per distinct value


def _shared(values: Sequence[Any]) -> Sequence[Any]:
    """``values`` with one object for each repeated text: the lines of a listing repeat their
    product id, process, status and users, and a copy of each per line is most of a large
    listing's memory.  ``values`` itself when it repeats little, or holds other than text."""
    if set(map(type, values)) - _TEXT_OR_NONE:
        return values         # 1, 1.0 and True are one key: only text is shared
    one_each = dict(zip(values, values, strict=True))
    if len(one_each) * 2 > len(values):
        return values
    return list(map(one_each.__getitem__, values))


def distinct_table(values: Sequence[Any], convert: Callable[[Any], Any]
                   ) -> dict[Any, Any] | None:
    """``{value: convert(value)}`` for each distinct value: a column (of a sheet, of a
    listing) converted with one call per distinct value, for ids, statuses and numbers
    repeat a lot.  None where a table could go wrong and each value must be converted on
    its own: values of two kinds besides text could be equal keys yet convert differently
    (``1``, ``1.0`` and ``True``), or a value cannot be a key (a list)."""
    if len(set(map(type, values)) - _TEXT_OR_NONE) > 1:
        return None
    try:
        distinct = set(values)
    except TypeError:
        return None
    return {value: convert(value) for value in distinct}


_TEXT_OR_NONE = frozenset({str, type(None)})


#: Distinct wire texts remembered per field of a repeating kind (a bound on memory).
_WIRE_MEMO_SIZE = 4096


def _wire_converter(f: Field) -> Callable[[Any], Any]:
    """``f.from_wire`` with shortcuts that give the same result.

    Uuids and timestamps already in canonical form, and text with nothing to trim, are their
    own canonical value.  Line numbers, minutes and statuses repeat (a few distinct texts
    across a whole table), so each distinct text is converted once and remembered."""
    slow = f.from_wire
    canonical = _CANONICAL_FORMS.get(f.kind)
    if canonical is not None:
        def convert(value: Any) -> Any:
            if value.__class__ is str and canonical(value) is not None:
                return value
            return slow(value)
        return convert
    if f.kind is Kind.TEXT:
        def convert_text(value: Any) -> Any:
            # Blank text, surrounding whitespace and the quote prefix need the full rules.
            if (value.__class__ is str and value and value[0] != "'"
                    and not value[0].isspace() and not value[-1].isspace()):
                return value
            return slow(value)
        return convert_text
    memo: dict[str, Any] = {}

    def convert_repeating(value: Any) -> Any:
        if value.__class__ is not str:   # 1, 1.0 and True are equal keys: no memo for them
            return slow(value)
        try:
            return memo[value]
        except KeyError:
            canonical_value = slow(value)
            if len(memo) < _WIRE_MEMO_SIZE:
                memo[value] = canonical_value
            return canonical_value
    return convert_repeating


_WIRE_INDEX: dict[str, Field] = {}
for _f in FIELDS:
    for _name in (_f.name, *_f.wire_names, *( (_f.filter_name,) if _f.filter_name else ())):
        _WIRE_INDEX[_name] = _f
_WIRE_CONVERTERS: dict[str, tuple[str, Callable[[Any], Any]]] = {}
for _f in FIELDS:
    _convert = _wire_converter(_f)
    for _name, _known in _WIRE_INDEX.items():
        if _known is _f:
            _WIRE_CONVERTERS[_name] = (_f.name, _convert)


def wire_body(values: dict[str, Any]) -> dict[str, Any]:
    """Canonical ``{field: value}`` -> JSON body using each field's wire name."""
    return {BY_NAME[name].wire_name: BY_NAME[name].to_wire(v) for name, v in values.items()}


def display(name: str, value: Any, names: Mapping[str, str] | None = None) -> str:
    """A canonical value as a planner reads it in a report or on screen; an id whose name is
    known (``names``: id -> name) reads ``Welding (id)``."""
    if value is None:
        return "(blank)"
    f = BY_NAME.get(name)
    if f is not None and f.kind is Kind.MINUTES:
        return format_decimal(value)
    if names and value in names:
        return f"{names[value]} ({value})"
    return str(value)

