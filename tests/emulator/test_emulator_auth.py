"""Login with badge and PIN, the user cookie, static tokens and session expiry."""

from __future__ import annotations

import aiohttp

from sync.emulator import DEMO_BADGE, DEMO_PIN, DEMO_TOKEN, EmulatorConfig

from .conftest import Api


async def _login(session: aiohttp.ClientSession, base_url: str, badge: str, pin: str):
    async with session.post(f"{base_url}/device-login/", data={"badge": badge, "pin": pin}) as r:
        return r.status, await r.json(), r.cookies


async def test_requests_without_a_valid_cookie_are_401(api: Api):
    for token in (None, "", "wrong-token"):
        api.token = token
        reply = await api.get()
        assert reply.status == 401
        assert "Not logged in" in reply.body["error"]
    api.token = "wrong-token"
    assert (await api.post({})).status == 401  # refused before the body is even looked at
    assert "wrong-token" not in (await api.get()).body["error"]


async def test_login_sets_a_fresh_user_cookie_that_a_cookie_jar_keeps(emulator, demo_dataset):
    emu = await emulator(dataset=demo_dataset)
    # aiohttp's jar ignores cookies from IP-address hosts unless told to accept them.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        status, body, cookies = await _login(session, emu.base_url, DEMO_BADGE, DEMO_PIN)
        assert status == 200 and body == {"logged_in": True, "badge": DEMO_BADGE}
        token = cookies["user"].value
        assert len(token) >= 24 and token != DEMO_TOKEN
        assert cookies["user"]["path"] == "/" and cookies["user"]["httponly"]
        async with session.get(f"{emu.base_url}/product-processes") as response:
            assert response.status == 200 and len(await response.json()) == 15
        process = emu.store.processes()[0]["process_id"]
        product = emu.store.products()[0]["product_id"]
        body = {"product_id": product, "process_id": process, "line_number": "50"}
        async with session.post(f"{emu.base_url}/product-processes", json=body) as response:
            assert (await response.json())["created_by"] == f"badge {DEMO_BADGE}"
        _, _, again = await _login(session, emu.base_url, DEMO_BADGE, DEMO_PIN)
        assert again["user"].value != token


async def test_login_accepts_the_path_without_slash_and_a_json_body(emulator, http):
    emu = await emulator()
    async with http.post(f"{emu.base_url}/device-login",
                         json={"badge": DEMO_BADGE, "pin": DEMO_PIN}) as response:
        assert response.status == 200 and "user" in response.cookies


async def test_wrong_badge_or_pin_is_401_without_a_cookie(emulator, http):
    emu = await emulator(EmulatorConfig(users={"7": "1234"}))
    for badge, pin in (("7", "9999"), ("8", "1234"), ("", ""), (DEMO_BADGE, DEMO_PIN)):
        status, body, cookies = await _login(http, emu.base_url, badge, pin)
        assert status == 401 and "badge or PIN is wrong" in body["error"]
        assert "user" not in cookies
        assert pin == "" or pin not in body["error"]
    assert (await _login(http, emu.base_url, "7", "1234"))[0] == 200
    async with http.post(f"{emu.base_url}/device-login/") as response:  # no body at all
        assert response.status == 401 and "user" not in response.cookies


async def test_only_the_configured_static_tokens_are_accepted(emulator, http):
    emu = await emulator(EmulatorConfig(tokens={"alpha", "beta"}))
    for token, status in (("alpha", 200), ("beta", 200), (DEMO_TOKEN, 401)):
        reply = await Api(http, emu, token).get()
        assert reply.status == status


async def test_a_static_token_expires_after_session_requests(emulator, demo_dataset, http):
    api = Api(http, await emulator(EmulatorConfig(session_requests=3), demo_dataset), DEMO_TOKEN)
    assert [(await api.get()).status for _ in range(3)] == [200, 200, 200]
    for _ in range(2):  # and stays expired
        reply = await api.get()
        assert reply.status == 401 and "Session expired" in reply.body["error"]


async def test_a_login_session_expires_and_a_new_login_works(emulator, http):
    emu = await emulator(EmulatorConfig(session_requests=2))
    _, _, cookies = await _login(http, emu.base_url, DEMO_BADGE, DEMO_PIN)
    first = Api(http, emu, cookies["user"].value)
    assert [(await first.get()).status for _ in range(3)] == [200, 200, 401]
    _, _, cookies = await _login(http, emu.base_url, DEMO_BADGE, DEMO_PIN)
    second = Api(http, emu, cookies["user"].value)
    assert (await second.get()).status == 200
    assert (await first.get()).status == 401


async def test_an_expired_write_has_no_effect(emulator, demo_dataset, http):
    api = Api(http, await emulator(EmulatorConfig(session_requests=1), demo_dataset), DEMO_TOKEN)
    victim = api.store.lines()[0]["id"]
    assert (await api.get()).status == 200
    assert (await api.delete({"id": victim})).status == 401
    assert api.store.line(victim) is not None and api.store.write_count == 0


def test_config_repr_hides_tokens_and_pins():
    text = repr(EmulatorConfig(tokens={"s3cret-token"}, users={"42": "98765"}))
    assert "s3cret-token" not in text and "98765" not in text
