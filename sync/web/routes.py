"""Routes of the planners' page, and the middlewares that guard them.

Guards, outermost first: security headers and the Host check (``guard``), then the session
(``sessions``: a random id in an HttpOnly, SameSite=Strict cookie), then ``refusals`` (forms
refused while read, browsers gone).  Every POST reads its form with ``forms.read_form``, which
checks the session's CSRF token (``_csrf_ok``) before it reads anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web

from sync import api, savedplan
from sync.connection import Connection
from sync.diff import Blank, Mode, Scope
from sync.errors import (
    AuthError,
    FormRefusedError,
    InputError,
    NoLoginPageError,
    NotFoundError,
    SyncError,
    UsageError,
    _PlanPutAsideError,
    _UploadTooLargeError,
)
from sync.report.palette import STATUS_ORDER, shade_of

from . import runs, table, views
from .app import STATE, WebState
from .archive import RunRecord
from .forms import NO_TOKEN, Form, read_chunk, read_form
from .html import Markup, render
from .sessions import (
    MAX_UPLOADS_PER_SESSION,
    Session,
    Upload,
    UploadState,
    safe_file_name,
)

log = logging.getLogger(__name__)

COOKIE = "ftsync_session"
STATIC_DIR = Path(__file__).with_name("static")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Multipart framing and the small fields around the file.
_FORM_OVERHEAD = 64 * 1024
_CHUNK = 256 * 1024
#: The start page's query after a sign-out, so that it can say so.
SIGNED_OUT = "signed-out"
PUT_ASIDE = ("This plan was put aside to save memory; plan again to see what Flowtrac would "
             "change now.")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Typed request keys where aiohttp has them (3.14+); plain strings before.
_RequestKey: Any = getattr(web, "RequestKey", None)
SESSION_KEY: Any = _RequestKey("flowtrac_session", Session) if _RequestKey else "session"
END_SESSION_KEY: Any = _RequestKey("flowtrac_end_session", bool) if _RequestKey else "end"


def _state(request: web.Request) -> WebState:
    return request.app[STATE]


# --------------------------------------------------------------------------- middlewares

@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; refuse unknown Host names and cross-site POSTs;
    turn errors into pages (a bug's details go to the log, never to the page)."""
    state = _state(request)
    if not state.origins.host_ok(request.host):
        response: web.StreamResponse = web.Response(status=421,
                                                    text=state.origins.refusal())
    elif request.method == "POST" and _cross_site(request):
        response = _plain_error(request, 403, "Refused",
                                "This form was sent from another site; nothing was done.")
    else:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400:
                response = _plain_error(request, exc.status, exc.reason, exc.text or "")
            else:
                raise
        except Exception:
            log.exception("error in %s %s", request.method, request.path)
            response = _plain_error(request, 500, "Something went wrong",
                                    "The page's server hit an unexpected error; its log has "
                                    "the details. Nothing more was sent to Flowtrac.")
    _compress(response)
    headers = response.headers
    headers["Content-Security-Policy"] = CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    return response


#: Answers worth compressing: pages, scripts, styles, progress; files to download are not.
_COMPRESSIBLE = ("text/html", "text/css", "application/javascript", "text/javascript",
                 "application/json", "text/plain", "image/svg+xml")


def _compress(response: web.StreamResponse) -> None:
    """gzip or deflate, as the browser's Accept-Encoding allows (aiohttp picks): a plan page
    is mostly repeated markup.  A page that echoes the search next to the CSRF token is safe
    to compress because the SameSite=Strict cookie keeps other sites from getting it."""
    if (isinstance(response, web.Response) and not response.prepared
            and response.content_type in _COMPRESSIBLE
            and "Content-Encoding" not in response.headers):
        response.enable_compression()


def _cross_site(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if not origin:
        return False
    return not _state(request).origins.origin_ok(origin, scheme=request.scheme,
                                                 host_header=request.host)


def _plain_error(request: web.Request, status: int, title: str, text: str) -> web.Response:
    """An error page: the full page when there is a session, a bare one otherwise."""
    if isinstance(request.get(SESSION_KEY), Session):
        body = views.message_page(_ctx(request), title, text)
    else:
        body = render("bare_error.html", title=title, text=text)
    return web.Response(status=status, text=body, content_type="text/html")


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find the browser's session (or start one for a page view); keep the cookie current."""
    if request.path.startswith("/static/") or request.path == "/status.css":
        return await handler(request)
    store = _state(request).sessions()
    sent_id = request.cookies.get(COOKIE)
    session = store.get(sent_id)
    if session is None and request.method == "GET":
        session = store.create()
    if session is None:
        return _plain_error(request, 403, "Your session has ended",
                            "The session expired or the server restarted, so this form was "
                            "not accepted. Go to the start page and try again.")
    request[SESSION_KEY] = session
    response = await handler(request)
    if request.get(END_SESSION_KEY):
        response.del_cookie(COOKIE, path="/")
    elif session.id != sent_id:
        response.set_cookie(COOKIE, session.id, httponly=True, samesite="Strict", path="/",
                            secure=_state(request).origins.cookie_secure(request.secure))
    return response


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A form refused while it was read gets its sentence; a browser that went away mid-form
    is one line in the log (its answer has nowhere to go)."""
    try:
        return await handler(request)
    except FormRefusedError as refused:
        if refused.status == 403:
            return _csrf_refused(request)
        if _session(request).signed_in:
            return _home(request, refused.text, refused.status)
        return _plain_error(request, refused.status, "Form refused", refused.text)
    except ConnectionError:
        if request.transport is not None and not request.transport.is_closing():
            raise               # not the browser's connection: for the guard to report
        log.info("the browser closed the connection during %s %s", request.method,
                 request.path)
        return web.Response(status=400, text="The connection was closed.\n")


MIDDLEWARES = [guard, sessions, refusals]


# --------------------------------------------------------------------------- helpers

def _session(request: web.Request) -> Session:
    session = request[SESSION_KEY]
    assert isinstance(session, Session)
    return session


def _ctx(request: web.Request) -> views.PageContext:
    state = _state(request)
    session = _session(request)
    host = session.connection.host if session.connection else state.host
    return views.PageContext(session, host, state.settings.demo,
                             state.settings.max_upload_bytes)


def _html(body: Markup, status: int = 200) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/html")


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), session.csrf.encode())


def _csrf_refused(request: web.Request) -> web.Response:
    log.warning("refused a %s to %s without a valid CSRF token", request.method, request.path)
    return _html(views.message_page(_ctx(request), "Form refused", NO_TOKEN[1]), 403)


async def _checked_form(request: web.Request, session: Session) -> dict[str, str]:
    """The posted fields, once its CSRF token is the session's; else ``FormRefusedError`` (raised,
    so that no handler goes on without the check) makes the answer."""
    form: Form[None] = await read_form(request, csrf_ok=lambda sent: _csrf_ok(session, sent),
                                       stall_s=_state(request).settings.stall_timeout_s)
    return form.fields


def _home(request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
    return _html(views.home_page(_ctx(request), error=error, samples=_samples(request),
                                 earlier=_earlier_runs(request)), status)


def _earlier_runs(request: web.Request) -> list[tuple[RunRecord, bool]]:
    connection = _session(request).connection
    if connection is None:
        return []
    archive = _state(request).runs()
    return [(r, archive.is_running(r)) for r in archive.runs_of(archive.owner_of(connection))]


def _samples(request: web.Request) -> list[str]:
    if not _state(request).settings.demo:
        return []
    from sync.demo import MESSY_XLSX, ROUTING_CSV, ROUTING_XLSX, SAMPLE_DIR

    return [n for n in (ROUTING_XLSX, ROUTING_CSV, MESSY_XLSX) if (SAMPLE_DIR / n).is_file()]


def _attachment(path: Path, name: str, content_type: str) -> web.FileResponse:
    return web.FileResponse(path, headers={
        "Content-Type": content_type,
        "Content-Disposition": f'attachment; filename="{safe_file_name(name)}"'})


def _upload_or_404(request: web.Request) -> Upload:
    upload = _session(request).uploads.get(request.match_info["upload_id"])
    if upload is None:
        raise web.HTTPNotFound(reason="No such upload",
                               text="This upload is not in your session (it ended, or the "
                                    "server restarted). Upload the file again.")
    upload.last_used = time.monotonic()
    return upload


def _kept_plan(upload: Upload) -> api.PlanResult:
    """The upload's plan, unless it was put aside to save memory (then 410, "plan again")."""
    try:
        return upload.kept_plan
    except _PlanPutAsideError:
        raise web.HTTPGone(reason="Plan put aside", text=PUT_ASIDE) from None


# --------------------------------------------------------------------------- sign-in

async def index(request: web.Request) -> web.Response:
    session = _session(request)
    if not session.signed_in:
        return _html(views.signin_page(_ctx(request),
                                       signed_out=request.query.get(SIGNED_OUT) == "1"))
    return _home(request)


async def signin(request: web.Request) -> web.Response:
    session = _session(request)
    form = await _checked_form(request, session)
    state = _state(request)
    settings = state.settings
    badge = str(form.get("badge") or "").strip()
    pin = str(form.get("pin") or "").strip()
    token = str(form.get("token") or "").strip()
    if form.get("demo") and settings.demo:
        from sync.emulator import DEMO_BADGE, DEMO_PIN

        badge, pin, token = DEMO_BADGE, DEMO_PIN, ""
    ctx = _ctx(request)
    store = state.sessions()
    # Counted per badge and per address (not per session: a fresh session is free to get).
    keys = store.throttle.keys("" if token else badge, request.remote)
    lockout = store.throttle.blocked(keys, time.monotonic())
    if lockout is not None:
        retry_at = time.strftime("%H:%M:%S", time.localtime(time.time() + lockout.retry_in_s))
        response = _html(views.signin_page(ctx, badge=badge, error=(
            f"Too many failed sign-ins {lockout.what}; try again at {retry_at} (in "
            f"{lockout.retry_in_s} s).")), 429)
        response.headers["Retry-After"] = str(lockout.retry_in_s)
        return response
    if not token and not (badge and pin):
        return _html(views.signin_page(ctx, badge=badge, error=(
            "Enter your badge and PIN, or a token.")), 400)
    try:
        connection = Connection.from_options(
            base_url=state.base_url, token=token or None,
            badge=None if token else badge, pin=None if token else pin,
            insecure=settings.insecure, allow_http=settings.allow_http,
            timeout_s=settings.timeout_s)
        await runs.check_sign_in(connection)
    except SyncError as exc:
        if isinstance(exc, AuthError):
            store.throttle.failed(keys, time.monotonic())
        log.info("sign-in with a %s refused: %s", "token" if token else "badge", exc)
        if isinstance(exc, NoLoginPageError | NotFoundError):
            # The address is wrong, not the credentials: say so, and who can fix it.
            message = (f"Sign-in not checked: Flowtrac at {ctx.host} has no sign-in at "
                       f"the address this page was started with (HTTP 404), so your "
                       f"{'token was' if token else 'badge and PIN were'} not checked. Ask "
                       f"whoever runs this page to correct its Flowtrac address.")
        elif token and isinstance(exc, AuthError):
            # The library's sentence speaks of command-line options; say it for this page.
            message = ("Sign-in failed (token): Flowtrac did not accept the token (it may have "
                       "expired). Get a new one, or sign in with your badge and PIN.")
        else:
            message = f"Sign-in failed ({'token' if token else f'badge {badge}'}): {exc}"
        return _html(views.signin_page(ctx, badge="" if token else badge, error=message), 401)
    identity = (f"token {hashlib.sha256(token.encode()).hexdigest()}" if token
                else f"badge {badge}")
    if not store.admit(session, identity):
        return _html(views.signin_page(ctx, badge=badge, error=(
            f"The page has as many planners signed in as it serves "
            f"({store.max_sessions}); try again when someone signs out.")), 503)
    session.connection = connection
    session.signed_in_as = ("demo planner" if form.get("demo") and settings.demo
                            else "with a token" if token else f"badge {badge}")
    store.rotate(session)
    session.flash("ok", f"Signed in to {connection.host}.")
    log.info("signed in to %s (%s)", connection.host, session.signed_in_as)
    return _redirect("/")


async def signout(request: web.Request) -> web.Response:
    session = _session(request)
    form = await _checked_form(request, session)
    if session.busy and form.get("confirm") != "1":
        # Say what becomes of the running apply before signing out (it goes on).
        return _html(views.signout_page(_ctx(request)))
    _state(request).sessions().end(session)
    request[END_SESSION_KEY] = True
    # The session and its notices are gone: the start page says it from the address.
    return _redirect(f"/?{SIGNED_OUT}=1")


# --------------------------------------------------------------------------- upload + plan

async def _save_part(part: BodyPartReader, target: Path, limit: int, stall_s: float) -> int:
    written = 0
    # 0600: the file is the planner's data; the folder is 0700 already.
    with open(target, "xb") as out:
        target.chmod(0o600)
        while chunk := await read_chunk(lambda: part.read_chunk(_CHUNK), stall_s):
            written += len(chunk)
            if written > limit:
                raise _UploadTooLargeError(target.name)
            out.write(chunk)
    return written


async def _drain(request: web.Request, cap: int) -> None:
    """Read (and drop) the rest of a refused upload, so the browser, still sending, gets
    the answer instead of a reset connection; beyond ``cap`` the connection is closed."""
    seen = 0
    stall_s = _state(request).settings.stall_timeout_s
    while seen < cap and (chunk := await read_chunk(request.content.readany, stall_s)):
        seen += len(chunk)


async def _too_large(request: web.Request, name: str) -> web.Response:
    limit_bytes = _state(request).settings.max_upload_bytes
    await _drain(request, 4 * limit_bytes)
    limit = views.size_text(limit_bytes)
    return _home(request, f"{name} is larger than {limit}, the most this page accepts. Split "
                          f"the sheet, or use the command line (flowtrac-sync apply) for "
                          f"large files.", 413)


def _options(fields: dict[str, str]) -> api.SyncOptions:
    """The form's choices as SyncOptions; UsageError with one sentence for a bad value."""
    try:
        mode = Mode(fields.get("mode") or Mode.UPSERT.value)
        scope = Scope(fields.get("scope") or Scope.SHEET.value)
    except ValueError:
        raise UsageError("Choose one of the modes and scopes the form offers.") from None
    max_delete: int | None = None
    raw = (fields.get("max_delete") or "").strip()
    if raw:
        if not raw.isdigit():
            raise UsageError(f"The delete limit must be a whole number of 0 or more, got "
                             f"{raw[:20]!r}.")
        max_delete = int(raw)
    sheet = (fields.get("sheet") or "").strip() or None
    blank = Blank.KEEP if fields.get("blank_keep") else Blank.CLEAR
    return api.SyncOptions(mode=mode, scope=scope, blank=blank, max_delete=max_delete,
                           sheet=sheet)


async def upload(request: web.Request) -> web.Response:
    session = _session(request)
    state = _state(request)
    limit = state.settings.max_upload_bytes
    if not session.signed_in:
        session.flash("error", "Sign in first.")
        return _redirect("/")
    if request.content_length is not None and request.content_length > limit + _FORM_OVERHEAD:
        return await _too_large(request, "The file")
    stall_s = state.settings.stall_timeout_s
    folder: Path | None = None

    async def store(part: BodyPartReader) -> Path:
        nonlocal folder
        folder = Path(tempfile.mkdtemp(prefix="u-", dir=state.sessions().folder_of(session)))
        stored = folder / safe_file_name(part.filename)
        await _save_part(part, stored, limit, stall_s)
        return stored

    try:
        # The token comes as a header (scripts) or as the form's first field.
        form = await read_form(request, csrf_ok=lambda sent: _csrf_ok(session, sent),
                               stall_s=stall_s, on_file=store)
        if form.file is None:
            return _home(request, "Choose a file to upload (a workbook or a CSV file).", 400)
        options = _options(form.fields)
        response = await _plan_and_show(request, session, form.file, options)
        if response.status < 400:
            folder = None           # kept: the upload owns it now
        return response
    except _UploadTooLargeError as exc:
        return await _too_large(request, exc.name)
    except UsageError as exc:
        return _home(request, str(exc), 400)
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


async def _plan_and_show(request: web.Request, session: Session, path: Path,
                         options: api.SyncOptions) -> web.Response:
    connection = session.connection
    if connection is None:     # signed out (in another tab) while the file was coming in
        return _html(views.signin_page(_ctx(request), error="Sign in first."), 401)
    try:
        planned = await runs.make_plan(path, connection, options,
                                       memory_mb=_state(request).settings.upload_memory_mb)
    except (InputError, UsageError) as exc:
        return _home(request, str(exc), 400)
    except AuthError as exc:
        session.connection = None
        return _html(views.signin_page(_ctx(request), error=(
            f"Flowtrac no longer accepts this sign-in ({exc}) Sign in again.")), 401)
    except SyncError as exc:
        return _home(request, f"Could not make the plan: {exc}", 502)
    new = runs.new_upload(path, options, planned)
    session.uploads[new.id] = new
    _trim_uploads(session)
    _state(request).sessions().keep_plans_within_budget(session, keep=new)
    return _redirect(f"/plans/{new.id}")


def _trim_uploads(session: Session) -> None:
    while len(session.uploads) > MAX_UPLOADS_PER_SESSION:
        old = next((u for u in session.uploads.values()
                    if u.state is not UploadState.APPLYING), None)
        if old is None:
            return
        del session.uploads[old.id]
        shutil.rmtree(old.folder, ignore_errors=True)


async def plan_view(request: web.Request) -> web.Response:
    upload_ = _upload_or_404(request)
    if upload_.planned is None:
        return _html(views.put_aside_page(_ctx(request), upload_, PUT_ASIDE))
    stale = runs.plan_is_stale(upload_, _state(request).settings.plan_max_age_s)
    return _html(views.plan_page(_ctx(request), upload_, stale=stale,
                                 query=table.TableQuery.of(request.query)))


async def replan(request: web.Request) -> web.Response:
    session = _session(request)
    await _checked_form(request, session)
    old = _upload_or_404(request)
    if not session.signed_in:
        session.flash("error", "Sign in first.")
        return _redirect("/")
    if old.state is UploadState.APPLYING:
        session.flash("warning", "Wait until the apply has finished.")
        return _redirect(f"/plans/{old.id}")
    folder = Path(tempfile.mkdtemp(prefix="u-", dir=_state(request).sessions().folder_of(
        session)))
    copy = folder / old.path.name
    shutil.copyfile(old.path, copy)
    response = await _plan_and_show(request, session, copy, old.options)
    if response.status >= 400:
        shutil.rmtree(folder, ignore_errors=True)
    elif old.state is UploadState.PLANNED:
        # The old plan is out of date: it must not be applied by mistake.
        session.uploads.pop(old.id, None)
        shutil.rmtree(old.folder, ignore_errors=True)
    return response


async def plan_report(request: web.Request) -> web.StreamResponse:
    upload_ = _upload_or_404(request)
    path = await runs.plan_report(upload_, _kept_plan(upload_))
    return _attachment(path, f"{upload_.stem}.plan.xlsx", XLSX_TYPE)


async def approved_plan(request: web.Request) -> web.StreamResponse:
    """The plan, saved for ``apply --plan`` (``sync.savedplan``): the planner approves it
    here and the nightly job sends exactly its writes."""
    upload_ = _upload_or_404(request)
    planned = _kept_plan(upload_)
    if upload_.state is not UploadState.PLANNED:
        raise web.HTTPConflict(text="This plan was applied here already: plan again.")
    if runs.plan_is_stale(upload_, _state(request).settings.plan_max_age_s):
        raise web.HTTPConflict(text="This plan is old: plan again before approving it.")
    target = upload_.folder / f"{upload_.stem}.plan.json"
    try:
        savedplan.save_plan(planned, target, keep_sheet_path=False)
    except SyncError as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    return _attachment(target, target.name, "application/json")


# --------------------------------------------------------------------------- apply

async def apply(request: web.Request) -> web.Response:
    session = _session(request)
    form = await _checked_form(request, session)
    upload_ = _upload_or_404(request)
    where = f"/plans/{upload_.id}"
    planned = _kept_plan(upload_)
    expected = ",".join(str(planned.changes[k]) for k in ("create", "update", "delete"))
    if upload_.state is not UploadState.PLANNED:
        session.flash("warning", "This upload was already applied: each upload is applied at "
                                 "most once. Use 'Plan again' to check what is left.")
    elif not session.signed_in:
        session.flash("error", "Sign in first.")
        return _redirect("/")
    elif planned.plan.over_delete_limit:
        session.flash("danger", "Nothing was written: the plan holds more deletes than the "
                                "limit allows.")
    elif runs.plan_is_stale(upload_, _state(request).settings.plan_max_age_s):
        session.flash("warning", "This plan is too old to apply: press 'Plan again' to see "
                                 "what Flowtrac holds now.")
    elif form.get("confirm") != expected:
        session.flash("error", "The confirmation did not match this plan; nothing was "
                               "written. Review the plan and confirm again.")
    elif not sum(planned.changes.values()):
        session.flash("info", views.nothing_to_send(planned))
    else:
        try:
            started = runs.start_apply(session, upload_, planned, _state(request).runs(),
                                       _state(request).history_path)
        except SyncError as exc:
            session.flash("error", str(exc))
            started = False
        if started:
            log.info("apply started: %s writes to %s", sum(planned.changes.values()),
                     session.connection.host if session.connection else "?")
    return _redirect(where)


async def progress(request: web.Request) -> web.Response:
    return web.json_response(runs.progress_json(_upload_or_404(request)))


async def result_report(request: web.Request) -> web.StreamResponse:
    upload_ = _upload_or_404(request)
    if upload_.result_report is None:
        raise web.HTTPNotFound(reason="No report yet",
                               text="The reconciliation report is written when the apply "
                                    "has finished.")
    return _attachment(upload_.result_report, f"{upload_.stem}.report.xlsx", XLSX_TYPE)


async def journal(request: web.Request) -> web.StreamResponse:
    upload_ = _upload_or_404(request)
    if upload_.result is None or upload_.journal is None or not upload_.journal.exists():
        raise web.HTTPNotFound(reason="No journal", text="There is no journal for this upload.")
    return _attachment(upload_.journal, f"{upload_.stem}.journal.jsonl", "application/x-ndjson")


def _run_or_404(request: web.Request) -> RunRecord:
    """One of the signed-in user's earlier runs: looked up in their own folder only."""
    connection = _session(request).connection
    archive = _state(request).runs()
    record = None
    if connection is not None:
        record = archive.find(archive.owner_of(connection), request.match_info["run_id"])
    if record is None:
        raise web.HTTPNotFound(reason="No such run",
                               text="This run is not among your earlier runs (sign in as "
                                    "the person who started it).")
    return record


async def run_report(request: web.Request) -> web.StreamResponse:
    record = _run_or_404(request)
    if not record.report.is_file():
        raise web.HTTPNotFound(reason="No report", text="This run has no report (yet).")
    return _attachment(record.report, record.report.name, XLSX_TYPE)


async def run_journal(request: web.Request) -> web.StreamResponse:
    record = _run_or_404(request)
    if _state(request).runs().is_running(record) or not record.journal.is_file():
        raise web.HTTPNotFound(reason="No journal",
                               text="The journal can be downloaded once the run has ended.")
    return _attachment(record.journal, record.journal.name, "application/x-ndjson")


async def history_view(request: web.Request) -> web.Response:
    """The signed-in person's runs on this Flowtrac, from the run history (read-only)."""
    session = _session(request)
    if session.connection is None:
        session.flash("error", "Sign in first.")
        return _redirect("/")
    state = _state(request)
    try:
        rows = await runs.history_rows(state.history_path, session.connection, state.runs(),
                                       state.base_url)
    except UsageError as exc:
        return _html(views.history_page(_ctx(request), [], error=str(exc)))
    return _html(views.history_page(_ctx(request), rows,
                                    running=lambda kept: state.runs().is_running(kept)))


# --------------------------------------------------------------------------- downloads

async def export(request: web.Request) -> web.StreamResponse:
    session = _session(request)
    if session.connection is None:
        session.flash("error", "Sign in first.")
        return _redirect("/")
    fmt = request.query.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        return _home(request, "Choose Excel (.xlsx) or CSV for the export.", 400)
    products = tuple(p.strip() for p in request.query.get("products", "").split(",")
                     if p.strip())
    filters = tuple(f.strip() for f in request.query.get("filter", "").split(";")
                    if f.strip())
    folder = Path(tempfile.mkdtemp(prefix="x-", dir=_state(request).sessions().folder_of(
        session)))
    try:
        path = await runs.export_file(session.connection, folder, products=products,
                                      filters=filters, fmt=fmt)
    except UsageError as exc:
        return _home(request, f"Could not export: {exc}", 400)
    except SyncError as exc:
        return _home(request, f"Could not export: {exc}", 502)
    content_type = XLSX_TYPE if fmt == "xlsx" else "text/csv; charset=utf-8"
    return _attachment(path, path.name, content_type)


async def template(request: web.Request) -> web.StreamResponse:
    folder = Path(tempfile.mkdtemp(prefix="t-", dir=_state(request).sessions().root))
    try:
        path = await runs.template_file(folder, _session(request).connection)
        data = path.read_bytes()
    except SyncError as exc:
        return _home(request, f"Could not make the template: {exc}", 502)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return web.Response(body=data, headers={
        "Content-Type": XLSX_TYPE,
        "Content-Disposition": 'attachment; filename="flowtrac-template.xlsx"'})


async def sample(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name not in _samples(request):
        raise web.HTTPNotFound(reason="No such sample", text="There is no such sample file.")
    from sync.demo import SAMPLE_DIR

    content_type = "text/csv; charset=utf-8" if name.endswith(".csv") else XLSX_TYPE
    return _attachment(SAMPLE_DIR / name, name, content_type)


async def status_css(request: web.Request) -> web.Response:
    """Status colours, from the report's palette (one source for the page and the report)."""
    shades = {s.name: s for s in (shade_of(status) for status in STATUS_ORDER) if s}
    rules = []
    for name, shade in shades.items():
        if shade.light:   # unchanged rows keep their look, as in the report
            rules.append(f"tr.shade-{name} td {{ background: #{shade.light}; }}")
        rules.append(f".pill.shade-{name}, .stat.shade-{name}, .filter.shade-{name} "
                     f"{{ background: #{shade.strong}; }}")
    rules.append(".pill.shade-none, .stat.shade-none { background: #eef2f6; }")
    return web.Response(text="\n".join(rules) + "\n", content_type="text/css",
                        headers={"Cache-Control": "max-age=3600"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index)
    app.router.add_post("/signin", signin)
    app.router.add_post("/signout", signout)
    app.router.add_post("/upload", upload)
    app.router.add_get("/plans/{upload_id}", plan_view)
    app.router.add_post("/plans/{upload_id}/replan", replan)
    app.router.add_get("/plans/{upload_id}/plan.xlsx", plan_report)
    app.router.add_post("/plans/{upload_id}/apply", apply)
    app.router.add_get("/plans/{upload_id}/approved.json", approved_plan)
    app.router.add_get("/plans/{upload_id}/progress", progress)
    app.router.add_get("/plans/{upload_id}/report.xlsx", result_report)
    app.router.add_get("/plans/{upload_id}/journal.jsonl", journal)
    app.router.add_get("/runs/{run_id}/report.xlsx", run_report)
    app.router.add_get("/runs/{run_id}/journal.jsonl", run_journal)
    app.router.add_get("/history", history_view)
    app.router.add_get("/export", export)
    app.router.add_get("/template.xlsx", template)
    app.router.add_get("/samples/{name}", sample)
    app.router.add_get("/status.css", status_css)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)

