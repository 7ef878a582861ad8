"""Pages: HTML built from the API's result objects (counts, row statuses, plan items).

Every value goes through ``html.esc`` (via ``tag``/``render``); colours come from the
report's palette, so the page and the Excel report read the same.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sync import api, schema
from sync.diff import Mode, Scope
from sync.loader import TEXT_EXTENSIONS, WORKBOOK_EXTENSIONS
from sync.model import Action, PlanItem, ReportRow
from sync.report.palette import STATUS_ORDER, shade_of

from .archive import RunRecord
from .html import Html, esc, join, render, tag
from .sessions import Session, Upload, UploadState

#: Rows the table shows at most (rows with something to say first); the report has them all.
MAX_TABLE_ROWS = 3000
ACCEPTED_SUFFIXES = ",".join(sorted(WORKBOOK_EXTENSIONS | TEXT_EXTENSIONS))
#: The same list as a person reads it: workbooks first.
ACCEPTED_TEXT = " ".join([*sorted(WORKBOOK_EXTENSIONS), *sorted(TEXT_EXTENSIONS)])

MODE_HELP = {
    Mode.UPSERT: "Create and update (default)",
    Mode.INSERT: "Only create new lines",
    Mode.UPDATE: "Only update existing lines",
    Mode.MIRROR: "Create, update, and delete the lines the sheet lacks",
}


@dataclass(frozen=True)
class PageContext:
    """What every page shows around its body."""

    session: Session
    host: str                 # the Flowtrac the page works on (host[:port])
    demo: bool
    max_upload_bytes: int

    @property
    def csrf_field(self) -> Html:
        return Html(f'<input type="hidden" name="csrf" value="{esc(self.session.csrf)}">')



def nothing_to_send(upload: Upload) -> str:
    """The library's reason a plan sends nothing, as a sentence of the page."""
    reason = api.nothing_to_send(upload.planned)
    return f"{reason[:1].upper()}{reason[1:]}."

def status_class(status: str) -> str:
    shade = shade_of(status)
    return f"shade-{shade.name}" if shade else "shade-none"


def pill(status: str, text: Any = None) -> Html:
    return tag("span", status if text is None else text, class_=f"pill {status_class(status)}")


def size_text(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def _clock(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


# --------------------------------------------------------------------------- frame

def page(ctx: PageContext, title: str, body: Html, *,
         notices: Iterable[tuple[str, str]] = ()) -> Html:
    flashes = [*ctx.session.take_flashes(), *notices]
    account = Html("")
    if ctx.session.signed_in:
        account = render("account.html", who=ctx.session.signed_in_as, csrf=ctx.csrf_field)
    demo = tag("span", "demo", class_="badge-demo", title="Built-in emulator with demo data"
               ) if ctx.demo else Html("")
    return render("base.html", title=title, host=ctx.host, demo=demo, account=account,
                  flashes=join(notice(kind, text) for kind, text in flashes), body=body)


def notice(kind: str, text: Any) -> Html:
    role = "alert" if kind in ("error", "danger") else "status"
    return tag("div", text, class_=f"notice notice-{kind}", role=role)


def message_page(ctx: PageContext, title: str, text: str) -> Html:
    body = render("message.html", title=title, text=text)
    return page(ctx, title, body)


# --------------------------------------------------------------------------- sign-in

def signin_page(ctx: PageContext, *, badge: str = "", error: str | None = None) -> Html:
    demo = render("signin_demo.html", csrf=ctx.csrf_field) if ctx.demo else Html("")
    body = render("signin.html", host=ctx.host, csrf=ctx.csrf_field, badge=badge, demo=demo)
    return page(ctx, "Sign in", body, notices=[("error", error)] if error else ())


# --------------------------------------------------------------------------- home

def home_page(ctx: PageContext, *, error: str | None = None, exports: bool = True,
              samples: Iterable[str] = (),
              earlier: Iterable[tuple[RunRecord, bool]] = ()) -> Html:
    """``earlier``: the signed-in user's earlier runs, each with whether it is running."""
    modes = join(tag("option", f"{m.value}: {MODE_HELP[m]}", value=m.value,
                     selected=m is Mode.UPSERT) for m in Mode)
    sample_links = join(tag("li", tag("a", name, href=f"/samples/{name}", download=True))
                        for name in samples)
    samples_html = (render("samples.html", links=sample_links) if sample_links
                    else Html(""))
    downloads = render("downloads.html", csrf=ctx.csrf_field, samples=samples_html
                       ) if exports else samples_html
    body = render("home.html", csrf=ctx.csrf_field, modes=modes, accept=ACCEPTED_SUFFIXES,
                  accept_text=ACCEPTED_TEXT,
                  max_bytes=str(ctx.max_upload_bytes), max_size=size_text(ctx.max_upload_bytes),
                  uploads=join([uploads_list(ctx.session), earlier_runs(earlier)]),
                  downloads=downloads,
                  scope_sheet=Scope.SHEET.value, scope_all=Scope.ALL.value)
    return page(ctx, "Upload a sheet", body, notices=[("error", error)] if error else ())


def uploads_list(session: Session) -> Html:
    if not session.uploads:
        return Html("")
    items = []
    for upload in reversed(list(session.uploads.values())):
        state = {UploadState.PLANNED: "planned", UploadState.APPLYING: "applying…",
                 UploadState.APPLIED: "applied"}[upload.state]
        if upload.planned is None:
            state += ", put aside to save memory"
        items.append(tag("li", join([
            tag("a", upload.name, href=f"/plans/{upload.id}"), " ",
            tag("span", f"{upload.options.mode.value}, {state}, planned at "
                        f"{_clock(upload.planned_at)}", class_="muted")])))
    return render("uploads.html", items=join(items))


def earlier_runs(runs: Iterable[tuple[RunRecord, bool]]) -> Html:
    items = []
    for record, running in runs:
        when = dt.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M")
        links = []
        if record.report.is_file():
            links.append(tag("a", "report", href=f"/runs/{record.id}/report.xlsx"))
        if not running and record.journal.is_file():
            links.append(tag("a", "journal", href=f"/runs/{record.id}/journal.jsonl"))
        items.append(tag("li", join([
            tag("strong", record.name), " ",
            tag("span", f"{when}, {_run_outcome(record, running)}", class_="muted"), " ",
            join(links, " · ")]), data_run=record.id))
    return render("runs.html", items=join(items)) if items else Html("")


def _run_outcome(record: RunRecord, running: bool) -> str:
    if running:
        return "still running (reload to see it end)"
    if record.finished is None:
        return "did not finish (the server stopped): the journal shows what was written"
    counts = ", ".join(f"{status} {n}" for status, n in _ordered_counts(record.counts))
    if record.error:
        return f"stopped: {record.error}" + (f" ({counts})" if counts else "")
    return counts


def signout_page(ctx: PageContext) -> Html:
    """Asked before signing out while an apply runs: what happens to it."""
    running = [u for u in ctx.session.uploads.values() if u.state is UploadState.APPLYING]
    text = "; ".join(f"{u.name}: {u.progress.done if u.progress else 0} of "
                     f"{u.progress.total if u.progress else 0} writes done" for u in running)
    body = render("signout.html", csrf=ctx.csrf_field,
                  running=f"An apply is running on {ctx.host} ({text}).")
    return page(ctx, "Sign out?", body)


# --------------------------------------------------------------------------- plan / result

@dataclass
class RowView:
    row: int | None           # the sheet's row number; None for a server-only record
    status: str
    product: str | None
    line: Any
    detail: Html
    message: str


def _detail(item: PlanItem, report: ReportRow | None, names: dict[str, str]) -> Html:
    if report is not None and report.errors:
        return tag("ul", join(tag("li", str(e)) for e in report.errors), class_="cell-errors")
    if item.changes:
        return tag("ul", join(
            tag("li", join([tag("span", name, class_="field"), " ",
                            tag("span", schema.display(name, before, names), class_="before"),
                            " → ",
                            tag("span", schema.display(name, after, names), class_="after")]))
            for name, (before, after) in item.changes.items()), class_="changes")
    if item.action is Action.CREATE and item.values:
        shown = {k: v for k, v in item.values.items()
                 if k not in (schema.PRODUCT_ID.name, schema.LINE_NUMBER.name)}
        return tag("ul", join(
            tag("li", join([tag("span", name, class_="field"), " ",
                            tag("span", schema.display(name, value, names), class_="after")]))
            for name, value in shown.items()), class_="changes new")
    return Html("")


def table_rows(result: api.PlanResult) -> list[RowView]:
    """One view per sheet row, then one per server-only record, from the API's own
    statuses (``row_status``/``server_only_rows`` follow the plan's order)."""
    assert result.plan is not None
    rows = []
    line = schema.LINE_NUMBER.name
    for item, (_index, report) in zip(result.plan.items, result.row_status(), strict=True):
        assert item.row is not None
        values = item.row.values
        rows.append(RowView(item.row.row_number, report.status,
                            item.product_id or values.get(schema.PRODUCT_ID.name),
                            values.get(line, (item.record or {}).get(line)),
                            _detail(item, report, result.plan.process_names),
                            "" if report.errors else report.message))
    for item, server in zip(result.plan.server_only, result.server_only_rows(), strict=True):
        record = item.record or {}
        detail = Html("")
        process = schema.PROCESS.name
        if record.get(process):
            detail = tag("ul", tag("li", join([tag("span", process, class_="field"), " ",
                                               str(record[process])])), class_="changes")
        rows.append(RowView(None, server.status, item.product_id, record.get(line), detail,
                            server.message))
    return rows


def _shown_rows(rows: list[RowView]) -> list[RowView]:
    if len(rows) <= MAX_TABLE_ROWS:
        return rows
    # Keep sheet order, but spend the room on rows that say something first.
    quiet = {"unchanged", "left alone"}
    keep = {id(r) for r in rows if r.status not in quiet}
    room = MAX_TABLE_ROWS - len(keep)
    for r in rows:
        if room <= 0:
            break
        if id(r) not in keep:
            keep.add(id(r))
            room -= 1
    return [r for r in rows if id(r) in keep][:MAX_TABLE_ROWS]


def _ordered_counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    def rank(item: tuple[str, int]) -> tuple[int, str]:
        status = item[0]
        return (STATUS_ORDER.index(status) if status in STATUS_ORDER else len(STATUS_ORDER),
                status)

    return sorted(counts.items(), key=rank)


def counts_strip(counts: dict[str, int]) -> Html:
    return join(tag("div", join([tag("span", str(n), class_="count"),
                                 tag("span", status, class_="label")]),
                    class_=f"stat {status_class(status)}", data_status=status)
                for status, n in _ordered_counts(counts))


def rows_table(result: api.PlanResult) -> Html:
    rows = table_rows(result)
    shown = _shown_rows(rows)
    counts = result.counts()
    filters = join([tag("button", f"all ({sum(counts.values())})", type="button",
                        class_="filter active", data_status="", aria_pressed="true"),
                    *(tag("button", f"{status} ({n})", type="button",
                          class_=f"filter {status_class(status)}", data_status=status,
                          aria_pressed="false")
                      for status, n in _ordered_counts(counts))])
    body = []
    for r in shown:
        product = tag("code", r.product, class_="uuid", title=r.product) if r.product else ""
        body.append(tag("tr", join([
            tag("td", "" if r.row is None else r.row, class_="num"),
            tag("td", pill(r.status)),
            tag("td", product),
            tag("td", "" if r.line is None else r.line, class_="num"),
            tag("td", r.detail),
            tag("td", r.message, class_="message"),
        ]), class_=status_class(r.status), data_status=r.status))
    more = Html("")
    if len(shown) < len(rows):
        more = notice("info", f"The table shows {len(shown)} of {len(rows)} rows (those with "
                              f"changes or problems first); the report holds them all.")
    return render("table.html", filters=filters, rows=join(body), more=more)


def _plan_notices(upload: Upload) -> list[tuple[str, str]]:
    planned = upload.planned
    assert planned.plan is not None
    plan = planned.plan
    out: list[tuple[str, str]] = []
    for warning in dict.fromkeys([*planned.warnings, *plan.warnings]):
        if plan.over_delete_limit and warning == plan.warnings[-1]:
            continue
        out.append(("warning", warning))
    if plan.over_delete_limit:
        out.append(("danger", f"{plan.warnings[-1]} On this page: upload the sheet again "
                              f"with a delete limit of at least {len(plan.deletes)}."))
    return out


def _mirror_box(upload: Upload) -> Html:
    plan = upload.planned.plan
    assert plan is not None
    if plan.options.mode is not Mode.MIRROR:
        return Html("")
    scope = ("the products this sheet names" if plan.options.scope is Scope.SHEET
             else "the whole table")
    return render("mirror.html", scope=scope, in_scope=str(plan.in_scope),
                  deletes=str(len(plan.deletes)), limit=str(plan.delete_limit),
                  state="over" if plan.over_delete_limit else "ok")


def _changes_sentence(changes: dict[str, int], host: str) -> str:
    return (f"create {changes['create']}, update {changes['update']} and delete "
            f"{changes['delete']} lines on {host}")


def plan_page(ctx: PageContext, upload: Upload, *, stale: bool) -> Html:
    planned = upload.planned
    assert planned.plan is not None
    plan = planned.plan
    changes = planned.changes
    applied = upload.state is not UploadState.PLANNED
    shown = upload.result if upload.result is not None else planned
    notices = _plan_notices(upload) if not applied else []
    if upload.error:
        notices.append(("error", f"The apply stopped: {upload.error}"))
    if upload.result is not None:
        notices.append(_outcome_notice(upload.result))

    writes = sum(changes.values())
    if applied:
        actions = render("applied_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         report=_report_link(upload), journal=_journal_link(upload))
    elif plan.over_delete_limit:
        actions = render("plan_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         apply=tag("button", "Apply (blocked by the delete limit)",
                                   type="button", class_="btn", disabled=True))
    elif writes == 0:
        actions = render("plan_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         apply=tag("span", nothing_to_send(upload), class_="muted"))
    elif stale:
        actions = render("plan_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         apply=tag("span", "This plan is old: plan again before applying.",
                                   class_="muted"))
    else:
        sentence = _changes_sentence(changes, ctx.host)
        dialog = render("apply_dialog.html", id=upload.id, csrf=ctx.csrf_field,
                        confirm=f"{changes['create']},{changes['update']},{changes['delete']}",
                        sentence=sentence, creates=str(changes["create"]),
                        updates=str(changes["update"]), deletes=str(changes["delete"]),
                        host=ctx.host, writes=str(writes))
        # Approving for tonight: the plan's writes, for ``apply --plan`` (sync.savedplan).
        approve = tag("a", "Approve for the nightly job: download the plan (.json)",
                      href=f"/plans/{upload.id}/approved.json", id="approve-plan", class_="btn",
                      title="The nightly job sends exactly these writes with: flowtrac-sync "
                            "apply --plan FILE.json")
        actions = render("plan_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         apply=Html(dialog + approve))

    progress = Html("")
    if applied:
        progress = render("progress.html", id=upload.id, state=upload.state.value,
                          total=str(upload.progress.total if upload.progress else 0),
                          done=str(upload.progress.done if upload.progress else 0))
    title = "Result" if upload.result is not None else (
        "Applying" if upload.state is UploadState.APPLYING else "Plan")
    heading = {"Plan": "Plan: what would change", "Applying": "Applying the plan…",
               "Result": "Result: what happened"}[title]
    body = render("plan.html", heading=heading, name=upload.name, host=ctx.host,
                  mode=plan.options.mode.value, planned_at=_clock(upload.planned_at),
                  state=upload.state.value, counts=counts_strip(shown.counts()),
                  mirror=_mirror_box(upload), actions=actions, progress=progress,
                  table=rows_table(shown) if upload.state is not UploadState.APPLYING
                  else rows_table(planned))
    return page(ctx, f"{title}: {upload.name}", body, notices=notices)


def put_aside_page(ctx: PageContext, upload: Upload, text: str) -> Html:
    """An upload whose plan was dropped from memory: say so and offer "Plan again"."""
    body = render("put_aside.html", name=upload.name, text=text, id=upload.id,
                  csrf=ctx.csrf_field, report=_report_link(upload))
    return page(ctx, f"Plan put aside: {upload.name}", body)


def _outcome_notice(result: api.ApplyResult) -> tuple[str, str]:
    """One sentence on how the apply ended, from the result's own exit code."""
    execution = result.execution
    took = f"{result.duration_s:.1f} s"
    if execution is not None and execution.fatal is not None:
        return ("error", f"The apply stopped after {took}: {execution.fatal} The report says "
                         f"which rows were done; plan again to finish.")
    if execution is not None and execution.stopped:
        return ("warning", f"The apply was interrupted after {took}, before every row was "
                           f"done; the report says which were. Plan again to finish.")
    if result.exit_code == 0:
        return ("ok", f"Done in {took}: Flowtrac now matches the sheet.")
    return ("warning", f"Finished in {took}, but some rows failed, were invalid, are in "
                       f"conflict or were changed again by another writer (overwritten): "
                       f"filter the table by status, or open the report.")


def _report_link(upload: Upload) -> Html:
    if upload.result_report is None:
        return Html("")
    return tag("a", "Download the reconciliation report (.xlsx)", class_="btn primary",
               href=f"/plans/{upload.id}/report.xlsx", id="download-result")


def _journal_link(upload: Upload) -> Html:
    if upload.journal is None or not upload.journal.exists() or upload.result is None:
        return Html("")
    return tag("a", "Journal of the writes (.jsonl)", class_="btn",
               href=f"/plans/{upload.id}/journal.jsonl")
