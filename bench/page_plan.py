"""A planner's upload on the page, timed as the planner sees it.

    python bench/page_plan.py PAGE_URL TOKEN SHEET

Signs in to a running ``flowtrac-sync serve`` with TOKEN, then uploads SHEET and follows the
answer to its plan page, as the browser's upload button does.  Prints the seconds from
sending the upload to the plan page read in full, then the plan page's counts line, so that
the benchmark can check the plan is the one it expects.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from pathlib import Path

import aiohttp

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_PLANNED = "Plan: what would change"


async def upload_s(page_url: str, token: str, sheet: Path) -> tuple[float, str]:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(page_url, cookie_jar=jar) as session:
        csrf = _csrf(await (await session.get("/")).text())
        signed = await session.post("/signin", data={"csrf": csrf, "token": token})
        csrf = _csrf(await signed.text())
        form = aiohttp.FormData()
        form.add_field("csrf", csrf)
        form.add_field("file", sheet.read_bytes(), filename=sheet.name,
                       content_type="application/octet-stream")
        started = time.perf_counter()
        answer = await session.post("/upload", data=form)
        body = await answer.text()
        took = time.perf_counter() - started
    if _PLANNED not in body:
        raise SystemExit(f"the upload was not planned (HTTP {answer.status}): {body[-2000:]}")
    counts = re.search(r'<[^>]+id="counts".*?</div>', body, re.S)
    return took, " ".join(re.sub(r"<[^>]+>", " ", counts.group(0)).split()) if counts else ""


def _csrf(page: str) -> str:
    found = _CSRF.search(page)
    if not found:
        raise SystemExit("the page offered no form to sign in or upload")
    return found.group(1)


if __name__ == "__main__":
    seconds, counts = asyncio.run(upload_s(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
    print(f"{seconds:.4f}")
    print(counts)
