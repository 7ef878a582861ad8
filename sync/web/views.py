"""Pages: HTML built from the API's result objects (counts, row statuses, plan items).

Every value is escaped by the Jinja2 templates (``sync.web.html``: pages under ``templates/``,
fragments the macros of ``templates/parts.html``); colours come from the report's palette, so
the page and the Excel report read the same.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync import api, schema
from sync.diff import Mode, Plan, Scope
from sync.errors import ExitCode
from sync.load import TEXT_EXTENSIONS, WORKBOOK_EXTENSIONS
from sync.model import Action, CellError, PlanItem
from sync.report.palette import shade_of

from . import runs, table
from .archive import RunRecord
from .html import Markup, join, parts, render
from .sessions import Session, Upload, UploadState

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
    def csrf_field(self) -> Markup:
        return parts().csrf_field(self.session.csrf)



def nothing_to_send(planned: api.PlanResult) -> str:
    """The library's reason a plan sends nothing, as a sentence of the page."""
    reason = api.nothing_to_send(planned)
    return f"{reason[:1].upper()}{reason[1:]}."

def status_class(status: str) -> str:
    shade = shade_of(status)
    return f"shade-{shade.name}" if shade else "shade-none"


def pill(status: str, text: Any = None) -> Markup:
    return parts().pill(status if text is None else text, status_class(status))


def size_text(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 2**10:.0f} KB"


def _clock(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


# --------------------------------------------------------------------------- frame

def page(ctx: PageContext, title: str, body: Markup, *,
         notices: Iterable[tuple[str, str]] = ()) -> Markup:
    flashes = [*ctx.session.take_flashes(), *notices]
    account = nav = Markup("")
    if ctx.session.signed_in:
        account = render("account.html", who=ctx.session.signed_in_as, csrf=ctx.csrf_field)
        nav = parts().nav()
    demo = parts().demo_badge() if ctx.demo else Markup("")
    return render("base.html", title=title, host=ctx.host, demo=demo, nav=nav, account=account,
                  flashes=join(notice(kind, text) for kind, text in flashes), body=body)


#: The library speaks to the command line; on the page its flags become the page's words.
#: Longest first, so that "--company or --base-url" goes before "--base-url".
PAGE_WORDS: tuple[tuple[str, str], ...] = (
    ("--company or --base-url", "the Flowtrac address this page was started with"),
    ("--badge and --pin", "a badge and PIN"),
    ("--max-delete", "the delete limit"),
    ("--base-url", "the Flowtrac address this page was started with"),
    ("--company", "the Flowtrac address this page was started with"),
    ("--sheet", "the sheet name"),
    ("--filter", "the filter"),
    ("--scope all", "the whole-table scope"),
    ("--scope", "the scope"),
    ("--mode", "the mode"),
    ("--blank", "the blank-cell choice"),
    ("--insecure", "skipping the certificate check (when the page is started)"),
    ("--token", "a token"),
)


def page_words(text: str) -> str:
    """``text`` with the command line's flags said in the page's words."""
    if "--" not in text:
        return text
    starts = text.startswith("--")
    for flag, words in PAGE_WORDS:
        text = re.sub(rf"{re.escape(flag)}(?![\w-])", words, text)
    return text[:1].upper() + text[1:] if starts else text


def notice(kind: str, text: Any) -> Markup:
    role = "alert" if kind in ("error", "danger") else "status"
    if isinstance(text, str) and not isinstance(text, Markup):
        text = page_words(text)
    return parts().notice(kind, role, text)


def message_page(ctx: PageContext, title: str, text: str) -> Markup:
    body = render("message.html", title=title, text=page_words(text))
    return page(ctx, title, body)


# --------------------------------------------------------------------------- sign-in

SIGNED_OUT_TEXT = ("You are signed out. Your uploads were removed from this server; the "
                   "report and journal of each apply are kept under “Earlier runs” for your "
                   "next sign-in.")


def signin_page(ctx: PageContext, *, badge: str = "", error: str | None = None,
                signed_out: bool = False) -> Markup:
    demo = render("signin_demo.html", csrf=ctx.csrf_field) if ctx.demo else Markup("")
    body = render("signin.html", host=ctx.host, csrf=ctx.csrf_field, badge=badge, demo=demo)
    notices = [("error", error)] if error else []
    if signed_out and not error:
        notices.append(("ok", SIGNED_OUT_TEXT))
    return page(ctx, "Sign in", body, notices=notices)


# --------------------------------------------------------------------------- home

def home_page(ctx: PageContext, *, error: str | None = None, exports: bool = True,
              samples: Iterable[str] = (),
              earlier: Iterable[tuple[RunRecord, bool]] = ()) -> Markup:
    """``earlier``: the signed-in user's earlier runs, each with whether it is running."""
    modes = join(parts().mode_option(m.value, f"{m.value}: {MODE_HELP[m]}", m is Mode.UPSERT)
                 for m in Mode)
    sample_links = join(parts().sample_link(name) for name in samples)
    samples_html = (render("samples.html", links=sample_links) if sample_links
                    else Markup(""))
    downloads = render("downloads.html", csrf=ctx.csrf_field, samples=samples_html
                       ) if exports else samples_html
    body = render("home.html", csrf=ctx.csrf_field, modes=modes, accept=ACCEPTED_SUFFIXES,
                  accept_text=ACCEPTED_TEXT,
                  max_bytes=str(ctx.max_upload_bytes), max_size=size_text(ctx.max_upload_bytes),
                  uploads=join([uploads_list(ctx.session), earlier_runs(earlier)]),
                  downloads=downloads,
                  scope_sheet=Scope.SHEET.value, scope_all=Scope.ALL.value)
    return page(ctx, "Upload a sheet", body, notices=[("error", error)] if error else ())


def uploads_list(session: Session) -> Markup:
    if not session.uploads:
        return Markup("")
    items = []
    for upload in reversed(list(session.uploads.values())):
        state = {UploadState.PLANNED: "planned", UploadState.APPLYING: "applying…",
                 UploadState.APPLIED: "applied"}[upload.state]
        if upload.planned is None:
            state += ", put aside to save memory"
        items.append(parts().upload_item(
            upload.id, upload.name,
            f"{upload.options.mode.value}, {state}, planned at {_clock(upload.planned_at)}"))
    return render("uploads.html", items=join(items))


def earlier_runs(runs: Iterable[tuple[RunRecord, bool]]) -> Markup:
    items = []
    for record, running in runs:
        when = dt.datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M")
        items.append(parts().earlier_run(
            record.id, record.name, f"{when}, {_run_outcome(record, running)}",
            record.report.is_file(), not running and record.journal.is_file()))
    return render("runs.html", items=join(items)) if items else Markup("")


def _run_outcome(record: RunRecord, running: bool) -> str:
    if running:
        return "still running (reload to see it end)"
    if record.finished is None:
        return "did not finish (the server stopped): the journal shows what was written"
    counts = ", ".join(f"{status} {n}" for status, n in _ordered_counts(record.counts))
    if record.error:
        return f"stopped: {record.error}" + (f" ({counts})" if counts else "")
    return counts


def history_page(ctx: PageContext, rows: Iterable[runs.HistoryRow], *,
                 error: str | None = None,
                 running: Callable[[RunRecord], bool] = lambda _kept: False) -> Markup:
    """The History view: the person's runs on this Flowtrac, newest first.  Only the page's
    own runs link to their files (served from the person's folder); a command-line run's
    report and journal are on the machine that ran it, so their paths are text."""
    body = [_history_row(row, running) for row in rows]
    if body:
        table_ = render("history_table.html", rows=join(body))
    elif error:
        table_ = Markup("")
    else:
        table_ = parts().history_empty()
    page_body = render("history.html", host=ctx.host, table=table_,
                       shown=str(runs.HISTORY_ROWS))
    return page(ctx, "History", page_body, notices=[("error", error)] if error else ())


def _history_row(row: runs.HistoryRow, running: Callable[[RunRecord], bool]) -> Markup:
    r = row.record
    if r.counts:
        counts = join((pill(status, f"{status} {n}") for status, n in _ordered_counts(r.counts)),
                      " ")
    else:   # stopped before its plan (cannot log in, an unreadable sheet): say why
        counts = parts().muted(r.problems[0] if r.problems else "")
    return parts().history_row(r, Path(r.file).name if r.file else "",
                               None if row.from_page else r.file, _when(r.started),
                               _when(r.finished), counts, _run_files(row, running))


def _when(stamp: str | None) -> str:
    """A recorded time to the second, without its zone (the title has it all)."""
    return (stamp or "")[:19]


def _run_files(row: runs.HistoryRow, running: Callable[[RunRecord], bool]) -> Markup:
    kept = row.kept
    if kept is not None:
        return parts().kept_files(kept.id, kept.report.is_file(),
                                  not running(kept) and kept.journal.is_file())
    if row.from_page:       # its folder is gone (another --data-dir): server paths stay unsaid
        return parts().muted("no longer kept on this page")
    paths = [(what, p) for what, p in (("report", row.record.report),
                                        ("journal", row.record.journal)) if p]
    return parts().run_paths(paths)


def signout_page(ctx: PageContext) -> Markup:
    """Asked before signing out while an apply runs: what happens to it."""
    running = [u for u in ctx.session.uploads.values() if u.state is UploadState.APPLYING]
    text = "; ".join(f"{u.name}: {u.progress.done if u.progress else 0} of "
                     f"{u.progress.total if u.progress else 0} writes done" for u in running)
    body = render("signout.html", csrf=ctx.csrf_field,
                  running=f"An apply is running on {ctx.host} ({text}).")
    return page(ctx, "Sign out?", body)


# --------------------------------------------------------------------------- plan / result

def _detail(item: PlanItem, errors: list[CellError], names: dict[str, str]) -> Markup:
    if errors:
        return parts().cell_errors([str(e) for e in errors])
    if item.changes:
        return parts().changes([(name, schema.display(name, before, names),
                                 schema.display(name, after, names))
                                for name, (before, after) in item.changes.items()])
    if item.action is Action.CREATE and item.values:
        return parts().new_values([(name, schema.display(name, value, names))
                                   for name, value in item.values.items()
                                   if name not in (schema.PRODUCT_ID.name,
                                                   schema.LINE_NUMBER.name)])
    record = item.record or {}
    if item.row is None and record.get(schema.PROCESS.name):
        process = schema.PROCESS.name
        return parts().process_of(process, str(record[process]))
    return Markup("")


def _ordered_counts(counts: dict[str, int]) -> list[tuple[str, int]]:
    return table.ordered_counts(counts)


def counts_strip(counts: dict[str, int]) -> Markup:
    return parts().counts_strip([(status, str(n), status_class(status))
                                 for status, n in _ordered_counts(counts)])


def _filter_link(view: table.TablePage, status: str, text: str) -> Markup:
    on = view.query.status == status
    shade = (f"filter {status_class(status) if status else ''}".strip()
             + (" active" if on else ""))
    return parts().filter_link(text, view.query.link(status=status) + "#rows", shade, status, on)


def _pager(view: table.TablePage) -> Markup:
    if view.pages <= 1:
        return Markup("")
    page = view.query.page
    prev = view.query.link(page=page - 1) + "#rows" if page > 1 else None
    next_ = view.query.link(page=page + 1) + "#rows" if page < view.pages else None
    return parts().pager(page, view.pages, prev, next_)


def _footer(view: table.TablePage, total: int) -> str:
    what = f"“{view.query.status}” rows" if view.query.status else "rows"
    if view.query.search:
        what += f" matching “{view.query.search}”"
    if not view.matched:
        return f"No {what}; {total} rows in all."
    return f"Rows {view.first}–{view.last} of {view.matched} {what}; {total} rows in all."


def rows_table(result: api.PlanResult, query: table.TableQuery | None = None,
               rows: list[table.Entry] | None = None) -> Markup:
    """One page of the table (``query``: filter, search, order, page; the default shows the
    changes and problems first)."""
    rows = table.cached_entries(result) if rows is None else rows
    view = table.select(rows, query or table.TableQuery())
    names = result.plan.process_names
    filters = join([_filter_link(view, "", f"all ({view.searched})"),
                    *(_filter_link(view, status, f"{status} ({n})")
                      for status, n in _ordered_counts(view.counts))])
    body = []
    for r in view.entries:
        product = parts().product(r.product, r.product_name) if r.product else ""
        body.append(parts().plan_row(
            status_class(r.status), r.status, r.row, pill(r.status), product, r.process,
            r.line, _detail(r.item, r.errors, names), "" if r.errors else r.message))
    order = view.query.order
    orders = join(parts().order_link(text, view.query.link(order=key) + "#rows",
                                     "order" + (" active" if key == order else ""), key,
                                     key == order)
                  for key, text in (("changes", "changes and problems first"),
                                    ("sheet", "sheet order")))
    return render("table.html", filters=filters, rows=join(body), pager=_pager(view),
                  orders=orders, status=view.query.status, search=view.query.search,
                  order=order if order != table.ORDERS[0] else "",
                  shown=_footer(view, len(rows)))


def _plan_notices(planned: api.PlanResult) -> list[tuple[str, str]]:
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


def _mirror_box(plan: Plan) -> Markup:
    if plan.options.mode is not Mode.MIRROR:
        return Markup("")
    scope = ("the products this sheet names" if plan.options.scope is Scope.SHEET
             else "the whole table")
    return render("mirror.html", scope=scope, in_scope=str(plan.in_scope),
                  deletes=str(len(plan.deletes)), limit=str(plan.delete_limit),
                  state="over" if plan.over_delete_limit else "ok")


def _changes_sentence(changes: dict[str, int], host: str) -> str:
    return (f"create {changes['create']}, update {changes['update']} and delete "
            f"{changes['delete']} lines on {host}")


def _count_of(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


#: Lines of each kind the apply dialog names one by one; the plan report has the rest.
DIALOG_LINES = 10


def _apply_lists(planned: api.PlanResult) -> Markup:
    """Creates, updates and deletes as three lists; the deletes stand out (they cannot be
    taken back by planning again)."""
    plan = planned.plan
    by_kind: dict[Action, list[PlanItem]] = {Action.CREATE: [], Action.UPDATE: [],
                                              Action.DELETE: []}
    for item in plan.writes:
        by_kind[item.action].append(item)
    lists = []
    for action, noun in ((Action.CREATE, "create"), (Action.UPDATE, "update"),
                         (Action.DELETE, "delete")):
        items = by_kind[action]
        if not items:
            continue
        heading = _count_of(len(items), noun)
        if action is Action.DELETE:
            heading = f"{heading}: these lines are removed from Flowtrac"
        lists.append(parts().apply_list(
            noun, heading, action is Action.DELETE,
            [plan.describe_line(i) for i in items[:DIALOG_LINES]],
            max(len(items) - DIALOG_LINES, 0)))
    return join(lists)


def _not_sent(planned: api.PlanResult) -> str:
    """What the apply leaves out: invalid rows and conflicts are not sent."""
    counts = planned.counts()
    left = [_count_of(counts[status], f"{status} row") for status in ("invalid", "conflict")
            if counts.get(status)]
    if not left:
        return ""
    one = sum(counts.get(s, 0) for s in ("invalid", "conflict")) == 1
    verb, them = ("is", "it") if one else ("are", "them")
    return (f"{' and '.join(left)} {verb} not sent: fix {them} in the sheet and plan again "
            f"to send {them}.")


def plan_page(ctx: PageContext, upload: Upload, *, stale: bool,
              query: table.TableQuery | None = None) -> Markup:
    """The upload's plan (``_PlanPutAsideError`` when it was put aside), or its apply's
    progress and result."""
    planned = upload.kept_plan
    plan = planned.plan
    changes = planned.changes
    applied = upload.state is not UploadState.PLANNED
    shown = upload.result if upload.result is not None else planned
    notices = _plan_notices(planned) if not applied else []
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
                         apply=parts().blocked_apply())
    elif writes == 0:
        actions = render("plan_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         apply=parts().muted(nothing_to_send(planned)))
    elif stale:
        actions = render("plan_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         apply=parts().muted("This plan is old: plan again before applying."))
    else:
        sentence = _changes_sentence(changes, ctx.host)
        dialog = render("apply_dialog.html", id=upload.id, csrf=ctx.csrf_field,
                        confirm=f"{changes['create']},{changes['update']},{changes['delete']}",
                        sentence=sentence, lists=_apply_lists(planned),
                        not_sent=_not_sent(planned), host=ctx.host,
                        button=f"Apply {_count_of(writes, 'change')}…")
        # Approving for tonight: the plan's writes, for ``apply --plan`` (sync.savedplan).
        approve = parts().approve_link(upload.id)
        actions = render("plan_actions.html", id=upload.id, csrf=ctx.csrf_field,
                         apply=dialog + approve)

    progress = Markup("")
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
                  mirror=_mirror_box(plan), actions=actions, progress=progress,
                  table=rows_table(shown if upload.state is not UploadState.APPLYING
                                   else planned, query))
    return page(ctx, f"{title}: {upload.name}", body, notices=notices)


def put_aside_page(ctx: PageContext, upload: Upload, text: str) -> Markup:
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
    if result.exit_code == ExitCode.OK:
        return ("ok", f"Done in {took}: Flowtrac now matches the sheet.")
    counts = result.counts()
    problems = [_count_of(counts[s], f"{s} row") for s in api.PROBLEM_STATUSES if counts.get(s)]
    if not problems:
        return ("ok", f"Done in {took}: every write was made.")
    return ("warning", f"Finished in {took} with {', '.join(problems)}: show them with the "
                       f"status buttons above the table, or open the report.")


def _report_link(upload: Upload) -> Markup:
    if upload.result_report is None:
        return Markup("")
    return parts().report_link(upload.id)


def _journal_link(upload: Upload) -> Markup:
    if upload.journal is None or not upload.journal.exists() or upload.result is None:
        return Markup("")
    return parts().journal_link(upload.id)
