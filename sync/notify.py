"""Notifications for unattended runs: a JSON summary posted to webhooks after a run.

The summary is built from the run's history record (``sync.history.RunRecord``) alone, so
it cannot hold a token, cookie or PIN; its ``text`` field is what Slack and Teams webhooks
show as is.  Each post has a timeout and a few retries; a notification that cannot be
delivered is a warning, never a change of the run's exit code.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .errors import ExitCode
from .history import RunRecord

__all__ = ["NotifyOn", "payload", "send", "should_notify", "notify"]

log = logging.getLogger("sync.notify")

#: Seconds before a webhook's answer is given up, per attempt.
TIMEOUT_S = 10.0
#: Attempts after the first for a passing failure (no answer, 429, 5xx).
RETRIES = 2
#: Seconds before the first retry; doubled for each next one.
BACKOFF_S = 0.5
#: Problems a summary lists: a chat message, not the report.
SHOWN_PROBLEMS = 5


class NotifyOn(enum.Enum):
    FAILURE = "failure"
    ALWAYS = "always"


def should_notify(record: RunRecord, on: NotifyOn | str) -> bool:
    """``failure``: only a run whose exit code is not 0; ``always``: every run."""
    return NotifyOn(on) is NotifyOn.ALWAYS or record.exit_code != ExitCode.OK


def payload(record: RunRecord) -> dict[str, Any]:
    """The JSON a webhook receives."""
    problems = record.problems[:SHOWN_PROBLEMS]
    file_name = record.file.rsplit("/", 1)[-1] if record.file else "(no file)"
    outcome = "done" if record.exit_code == ExitCode.OK else f"FAILED (exit {record.exit_code})"
    counts = ", ".join(f"{n} {status}" for status, n in record.counts.items() if n)
    lines = [f"flowtrac-sync {record.command} {file_name} on {record.host}: {outcome}"
             + (f" - {counts}" if counts else "")]
    lines += [f"- {p}" for p in problems]
    if record.report:
        lines.append(f"report: {record.report}")
    lines.append(f"run: {record.run_id}")
    return {"text": "\n".join(lines), "run_id": record.run_id, "command": record.command,
            "server": record.server, "file": record.file, "mode": record.mode,
            "who": record.who, "started": record.started, "finished": record.finished,
            "duration_s": record.duration_s, "counts": record.counts,
            "exit_code": record.exit_code, "problems": problems, "report": record.report,
            "journal": record.journal}


def where(url: str) -> str:
    """A webhook as a message may name it: scheme and host only (a Slack or Teams webhook's
    path is its secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}" if parts.scheme else "(a webhook)"


async def _post(session: aiohttp.ClientSession, url: str, body: dict[str, Any], *,
                retries: int, backoff_s: float) -> str | None:
    """Post to one webhook; the warning sentence when it could not be delivered."""
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            await asyncio.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            async with session.post(url, json=body, allow_redirects=False) as response:
                if response.status < 300:
                    return None
                problem = f"HTTP {response.status}"
                if response.status != 429 and response.status < 500:
                    break  # the webhook refuses it: asking again changes nothing
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            problem = ("no answer in time" if isinstance(exc, TimeoutError)
                       else exc.__class__.__name__)
    return (f"the notification to {where(url)} could not be delivered ({problem}); the "
            f"run's exit code is not affected")


async def send(urls: Sequence[str], record: RunRecord, *, timeout_s: float = TIMEOUT_S,
               retries: int = RETRIES, backoff_s: float = BACKOFF_S) -> list[str]:
    """Post the record's summary to every URL at once; one warning per URL not reached."""
    if not urls:
        return []
    body = payload(record)
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        found = await asyncio.gather(*(_post(session, url, body, retries=retries,
                                             backoff_s=backoff_s) for url in urls))
    return [w for w in found if w]


def notify(urls: Sequence[str], record: RunRecord, on: NotifyOn | str = NotifyOn.FAILURE,
           **kwargs: Any) -> list[str]:
    """``send`` when ``on`` says this run is worth a message; the warnings.  Never raises
    for a webhook's fault."""
    if not urls or not should_notify(record, on):
        return []
    return asyncio.run(send(urls, record, **kwargs))
