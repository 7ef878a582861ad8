"""``serve --public-url``: the page behind a real https reverse proxy (tests/web/https_proxy.py)
answers to exactly the public address, sets a Secure session cookie, and never lets a
client's ``X-Forwarded-*`` headers change what it accepts.  The browser does the same loop in
test_browser_proxy.py."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from sync.errors import UsageError
from sync.web.origin import Origins, parse_public_url

from .conftest import BADGE, PIN, StartWeb, WebPage
from .https_proxy import (
    RunningProxy,
    client_session,
    running_https_proxy,
    self_signed_certificate,
)

PUBLIC_NAME = "flowtrac.test"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
FORGED = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
          "Forwarded": "host=evil.example;proto=https"}


# --------------------------------------------------------------------------- the URL

@pytest.mark.parametrize(("given", "origin"), [
    ("https://flowtrac.example.com", "https://flowtrac.example.com"),
    ("HTTPS://Flowtrac.Example.COM:443/", "https://flowtrac.example.com"),
    ("https://flowtrac.example.com:8443", "https://flowtrac.example.com:8443"),
    ("http://planning.local:8080/", "http://planning.local:8080"),
    ("https://[2001:DB8::1]:8443", "https://[2001:db8::1]:8443"),
    ("https://bücher.example", "https://xn--bcher-kva.example"),
])
def test_public_url_is_written_as_browsers_send_their_origin(given, origin):
    assert parse_public_url(given).origin == origin


@pytest.mark.parametrize(("given", "words"), [
    ("ftp://flowtrac.example.com", "must be like https://"),
    ("flowtrac.example.com", "must be like https://"),
    ("https://", "must be like https://"),
    ("https://planner:secret@flowtrac.example.com", "user name or password"),
    ("https://flowtrac.example.com/flowtrac/", "must not have a path (/flowtrac/)"),
    ("https://flowtrac.example.com/?next=1", "query"),
    ("https://flowtrac.example.com/#top", "#fragment"),
    ("https://flowtrac.example.com:99999", "is not a URL"),
    ("https://flow trac.example.com", "does not name a valid host"),
])
def test_a_public_url_that_cannot_be_used_is_refused_in_one_sentence(given, words):
    with pytest.raises(UsageError) as refused:
        parse_public_url(given)
    message = str(refused.value)
    assert words in message
    assert message.startswith("--public-url") and message.count(". ") == 0
    assert "secret" not in message


@pytest.mark.parametrize(("listen", "public", "host", "answered"), [
    ("0.0.0.0", None, "10.0.0.5:8780", True),       # no public URL: any name, as before
    ("0.0.0.0", "https://flowtrac.example.com", "flowtrac.example.com", True),
    ("0.0.0.0", "https://flowtrac.example.com", "localhost:8780", True),
    ("0.0.0.0", "https://flowtrac.example.com", "10.0.0.5:8780", False),
    ("10.0.0.5", "https://flowtrac.example.com", "10.0.0.5:8780", True),
    ("10.0.0.5", "https://flowtrac.example.com", "10.0.0.6:8780", False),
    ("::1", "https://flowtrac.example.com:8443", "[::1]:8780", True),
    ("::1", "https://flowtrac.example.com:8443", "[::1]x", False),
    # A public name that is also a loopback name: a proxy not passing the Host on still works.
    ("127.0.0.1", "https://localhost:8443", "localhost:8780", True),
])
def test_host_names_answered_with_a_public_url(listen, public, host, answered):
    assert Origins.of(listen, public).host_ok(host) is answered


# --------------------------------------------------------------------------- through a proxy

@pytest.fixture
async def proxied(web: StartWeb, tmp_path) -> AsyncIterator[tuple[RunningProxy, WebPage]]:
    """The page (on the emulator with the demo data) behind an https proxy that keeps the
    browser's Host; served with ``public_url = https://flowtrac.test:<proxy port>``."""
    cert, key = self_signed_certificate(tmp_path, PUBLIC_NAME)
    async with running_https_proxy(cert, key) as proxy:
        page = await web(public_url=f"https://{PUBLIC_NAME}:{proxy.port}")
        proxy.upstream = str(page.client.make_url("")).rstrip("/")
        yield proxy, page


async def _sign_in(session, url: str) -> None:
    front = await session.get(url)
    csrf = _CSRF.search(await front.text()).group(1)
    answer = await session.post(url + "signin", data={"csrf": csrf, "badge": BADGE, "pin": PIN},
                                headers={"Origin": url.rstrip("/")}, allow_redirects=False)
    assert answer.status == 303, await answer.text()


async def test_through_the_proxy_the_page_signs_in_with_a_secure_cookie(proxied):
    proxy, page = proxied
    url = f"https://{PUBLIC_NAME}:{proxy.port}/"
    async with client_session() as session:
        front = await session.get(url)
        assert front.status == 200 and "Sign in to Flowtrac" in await front.text()
        cookie = front.headers["Set-Cookie"]
        assert "; Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        await _sign_in(session, url)
        home = await session.get(url)
        assert 'id="upload-form"' in await home.text()


async def test_a_post_from_another_origin_is_refused_whatever_x_forwarded_says(proxied):
    proxy, page = proxied
    url = f"https://{PUBLIC_NAME}:{proxy.port}/"
    async with client_session() as session:
        await _sign_in(session, url)
        csrf = _CSRF.search(await (await session.get(url)).text()).group(1)
        own = str(page.client.make_url("")).rstrip("/")       # this server's own http address
        for origin in ("https://evil.example", own, f"http://{PUBLIC_NAME}:{proxy.port}",
                       f"https://{PUBLIC_NAME}"):
            answer = await session.post(url + "signout", data={"csrf": csrf},
                                        headers={"Origin": origin, **FORGED})
            assert answer.status == 403, origin
            assert "another site" in await answer.text()
        assert 'id="upload-form"' in await (await session.get(url)).text()   # still signed in
        # The public origin is accepted, and forged headers do not take that away either.
        answer = await session.post(url + "signout", data={"csrf": csrf}, headers={
            "Origin": url.rstrip("/"), "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "http"})
        assert answer.status == 200 and "Sign in to Flowtrac" in await answer.text()


async def test_only_the_public_host_is_answered_whatever_x_forwarded_says(proxied):
    proxy, page = proxied
    url = f"https://{PUBLIC_NAME}:{proxy.port}/"
    public_host = f"{PUBLIC_NAME}:{proxy.port}"
    async with client_session() as session:
        for host in ("evil.example", f"evil.example:{proxy.port}", PUBLIC_NAME,
                     f"{PUBLIC_NAME}:443", f"{PUBLIC_NAME}:{proxy.port + 1}",
                     f"{PUBLIC_NAME}:x"):
            answer = await session.get(url, headers={
                "Host": host, "X-Forwarded-Host": public_host, "Forwarded": f"host={public_host}"})
            assert answer.status == 421, host
            assert await answer.text() == f"This server answers only to {url}.\n"
        assert (await session.get(url, headers={"Host": public_host.upper()})).status == 200


async def test_a_proxy_that_does_not_pass_the_host_on_still_works(proxied):
    proxy, page = proxied
    proxy.preserve_host = False             # the server sees Host: 127.0.0.1:<its port>
    url = f"https://{PUBLIC_NAME}:{proxy.port}/"
    async with client_session() as session:
        await _sign_in(session, url)
        assert 'id="upload-form"' in await (await session.get(url)).text()


async def test_without_a_public_url_x_forwarded_proto_changes_nothing(web):
    page = await web()
    front = await page.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "Secure" not in front.headers["Set-Cookie"]
    own = str(page.client.make_url("")).rstrip("/")
    response = await page.post("/signin", {"badge": BADGE, "pin": PIN}, headers={
        "Origin": own.replace("http://", "https://"), **FORGED})
    assert response.status == 403 and "another site" in await response.text()
    response = await page.get("/", headers={"Host": "evil.example",
                                            "X-Forwarded-Host": "localhost"})
    assert response.status == 421
