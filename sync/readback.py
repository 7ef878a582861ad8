"""After an apply's writes: read back every line it wrote and check it still holds what was
written.

The write lock (``sync.writelock``) keeps two runs on one machine apart; a writer on another
machine, or a person in Flowtrac's own screens, is not kept out by it.  So once the writes
are done, the lines of the products they touched are listed again (``product_id-in``
batches, the same scoped reads a plan makes) and compared with what this run sent:

* a line whose written fields now hold other values, or that is gone, was changed again
  after this run wrote it;
* a key (product + line number) this run wrote that now holds a second line, which was not
  there when the run planned, was filled by another writer too: a duplicate.

Either makes the row ``overwritten`` (exit code 1).  A read-back that fails (the server went
away) is a warning: the writes were done, only their check is missing.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import schema
from .errors import SyncError
from .executor import Execution
from .listing import Listing
from .model import PlanItem, Status

__all__ = ["ReadBack", "read_back"]

_LINE = schema.LINE_NUMBER.name
_ID = schema.ID.name
#: The outcomes whose line holds what this run wrote (a delete leaves nothing to compare).
_WRITTEN = (Status.CREATED, Status.UPDATED)


class LineLister(Protocol):
    """What the read-back needs of ``sync.client.FlowtracClient``."""

    async def list_lines_for_products(self, product_ids: Iterable[str]) -> Listing: ...


@dataclass
class ReadBack:
    """What the read-back found: the rows another writer changed after this run, by item."""

    checked: int = 0
    overwritten: dict[PlanItem, str] = field(default_factory=dict)
    #: Why the lines could not be read back (None when they were).
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "overwritten": len(self.overwritten),
                "error": self.error, "seconds": round(self.seconds, 3)}


def _written(item: PlanItem) -> dict[str, Any]:
    """The fields this run sent for the item, canonical: the whole body of a create, the
    final values of an update (a parking move is only a step on the way)."""
    if item.changes:
        return {name: after for name, (_before, after) in item.changes.items()}
    return dict(item.values)


def _key(item: PlanItem, written: dict[str, Any]) -> tuple[Any, Any]:
    line = written.get(_LINE, (item.record or {}).get(_LINE))
    return item.product_id, line


async def read_back(client: LineLister, items: list[PlanItem], execution: Execution
                    ) -> ReadBack:
    """Compare the lines the execution wrote with the server's lines now.

    ``items`` are the plan's items, at least every item of a product written
    (``Plan.execution_items``): the lines they name are those the run saw when it planned,
    so a second line on a key counts only if it is new since."""
    started = time.monotonic()
    done = [(item, outcome.record_id) for item, outcome in execution.outcomes.items()
            if outcome.status in _WRITTEN and outcome.record_id]
    result = ReadBack()
    if not done:
        return result
    try:
        records = await client.list_lines_for_products(sorted({i.product_id for i, _ in done
                                                               if i.product_id}))
    except SyncError as exc:
        result.error = (f"the lines written could not be read back to check that no other "
                        f"writer changed them after this run ({exc})")
        result.seconds = time.monotonic() - started
        return result
    # Where the lines of each key are, from the listing's columns: a line is made a record
    # only when it is compared or named.
    ids = records.column(_ID)
    lines_on: dict[tuple[Any, Any], list[int]] = defaultdict(list)
    keys = zip(records.column(schema.PRODUCT_ID.name), records.column(_LINE), strict=True)
    for at, key in enumerate(keys):
        lines_on[key].append(at)
    # Where each line stood when the run planned, and which lines this run wrote where.
    # Looked up by the id of any record the server answers, one without an id included.
    planned_key: dict[str | None, tuple[str | None, Any]] = {
        i.record_id: (i.product_id, (i.record or {}).get(_LINE)) for i in items if i.record_id}
    ours = {record_id for _item, record_id in done}
    for item, record_id in done:
        written = _written(item)
        key = _key(item, written)
        record = records.get(record_id)
        if record is None:
            result.overwritten[item] = ("deleted from the server by another writer after this "
                                        "run wrote it")
            continue
        changed = [name for name, value in written.items() if record.get(name) != value]
        if changed:
            result.overwritten[item] = (f"changed again on the server{_by(record)} after this "
                                        f"run wrote it: {_changes(changed, written, record)}")
            continue
        others = [at for at in lines_on[key]
                  if ids[at] not in ours and planned_key.get(ids[at]) != key]
        if others:
            other = records[others[0]]
            result.overwritten[item] = (f"line {key[1]} of this product now has two lines on "
                                        f"the server: another writer put line "
                                        f"{other.get(_ID)} on it{_by(other)} after this run "
                                        "wrote its own")
    result.checked = len(done)
    result.seconds = time.monotonic() - started
    return result


def _by(record: dict[str, Any]) -> str:
    """`` at T by U``, from the server's own stamps (edited, else created) where it has them."""
    when = record.get(schema.EDITED.name) or record.get("created")
    who = record.get(schema.EDITED_BY.name) or record.get("created_by")
    return (f" at {when}" if when else "") + (f" by {who}" if who else "")


def _changes(changed: list[str], written: dict[str, Any], record: dict[str, Any]) -> str:
    parts = []
    for name in changed:
        field_ = schema.BY_NAME[name]
        now, wrote = record.get(name), written[name]
        parts.append(f"{field_.label} is {_shown(now)} (this run wrote {_shown(wrote)})")
    return "; ".join(parts)


def _shown(value: Any) -> str:
    return "blank" if value is None or value == "" else str(value)
