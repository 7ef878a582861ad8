"""Sign-in: a real login and listing against the emulator, the session cookie, CSRF, guards."""

from __future__ import annotations

from sync.web.routes import COOKIE

from .conftest import BADGE, PIN, TOKEN


async def test_first_visit_shows_sign_in_and_sets_a_strict_httponly_cookie(web):
    page = await web()
    response = await page.get("/")
    html = await response.text()
    assert response.status == 200
    assert "Sign in to Flowtrac" in html and 'name="pin"' in html
    assert page.emulator.base_url.split("//")[1].split("/")[0] in html   # the target host
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age" not in cookie and "expires" not in cookie.lower()   # a session cookie


async def test_security_headers_on_every_page(web):
    page = await web()
    for path in ("/", "/static/app.js", "/status.css"):
        headers = (await page.get(path)).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"


async def test_badge_and_pin_sign_in_and_the_session_id_changes(web):
    page = await web()
    await page.get("/")
    before = page.client.session.cookie_jar.filter_cookies(page.client.make_url("/"))[COOKIE]
    response = await page.sign_in()
    html = await response.text()
    assert response.status == 200 and response.url.path == "/"
    assert "Upload a sheet" in html and f"badge {BADGE}" in html
    after = page.client.session.cookie_jar.filter_cookies(page.client.make_url("/"))[COOKIE]
    assert after.value != before.value            # no session fixation
    assert page.emulator.store.request_count >= 2  # login + listing really went to Flowtrac


async def test_token_sign_in(web):
    page = await web()
    response = await page.sign_in("", "", token=TOKEN)
    assert "Signed in: with a token" in await response.text()


async def test_wrong_pin_is_refused_with_a_clear_message(web):
    page = await web()
    response = await page.sign_in(BADGE, "wrong-pin-0000")
    html = await response.text()
    assert response.status == 401
    assert "Sign-in failed (badge 7001)" in html and "check the badge and PIN" in html
    assert 'value="7001"' in html                     # the badge is kept ...
    assert "wrong-pin-0000" not in html               # ... the PIN never comes back
    assert not page.state.sessions().get(_session_id(page)).signed_in


async def test_wrong_token_is_refused(web):
    page = await web()
    response = await page.sign_in("", "", token="not-a-valid-token")
    html = await response.text()
    assert response.status == 401 and "Sign-in failed (token)" in html
    assert "Flowtrac did not accept the token" in html
    assert "not-a-valid-token" not in html


async def test_missing_credentials(web):
    page = await web()
    response = await page.sign_in("", "")
    assert response.status == 400
    assert "Enter your badge and PIN, or a token." in await response.text()


async def test_unreachable_flowtrac_is_a_clear_message(web):
    page = await web(base_url="http://127.0.0.1:9/api", timeout_s=2)
    response = await page.sign_in()
    html = await response.text()
    assert response.status == 401 and "Sign-in failed" in html
    assert "127.0.0.1:9" in html


async def test_sign_in_is_throttled_after_repeated_failures(web):
    page = await web()
    for _ in range(5):
        assert (await page.sign_in(BADGE, "bad-pin-1111")).status == 401
    response = await page.sign_in()               # even the right PIN waits now
    assert response.status == 429
    assert "Too many failed sign-ins" in await response.text()


async def test_post_without_or_with_a_wrong_csrf_token_is_refused(web):
    page = await web()
    await page.get("/")
    response = await page.post("/signin", {"badge": BADGE, "pin": PIN}, csrf=False)
    assert response.status == 403 and "security token" in await response.text()
    response = await page.post("/signin", {"csrf": "forged", "badge": BADGE, "pin": PIN},
                               csrf=False)
    assert response.status == 403
    await page.sign_in()
    for path in ("/signout", "/upload"):
        response = await page.post(path, {"csrf": "forged"}, csrf=False)
        assert response.status == 403, path
    plan = await page.upload()
    response = await page.post(f"{plan}/apply", {"csrf": "forged", "confirm": "2,4,0"},
                               csrf=False)
    assert response.status == 403
    assert page.emulator.store.write_count == 0


async def test_post_without_a_session_is_refused(web):
    page = await web()
    response = await page.client.post("/signin", data={"csrf": "x", "badge": BADGE,
                                                       "pin": PIN})
    assert response.status == 403
    assert "Your session has ended" in await response.text()


async def test_cross_site_post_is_refused_even_with_the_token(web):
    page = await web()
    await page.get("/")
    response = await page.post("/signin", {"badge": BADGE, "pin": PIN},
                               headers={"Origin": "http://evil.example"})
    assert response.status == 403 and "another site" in await response.text()
    response = await page.post("/signin", {"badge": BADGE, "pin": PIN},
                               headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status == 403


async def test_unknown_host_names_are_refused_on_loopback(web):
    page = await web()
    response = await page.get("/", headers={"Host": "rebound.evil.example"})
    assert response.status == 421
    assert (await page.get("/", headers={"Host": "localhost:8780"})).status == 200


async def test_sign_out_forgets_the_session(web):
    page = await web()
    await page.sign_in()
    old = _session_id(page)
    response = await page.post("/signout", {})
    assert response.status == 200 and "Sign in to Flowtrac" in await response.text()
    assert page.state.sessions().get(old) is None


def _session_id(page) -> str:
    return page.client.session.cookie_jar.filter_cookies(page.client.make_url("/"))[COOKIE].value
