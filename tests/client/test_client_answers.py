"""The client against answer shapes that are awkward to stage in the emulator (aioresponses)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
from decimal import Decimal
from email.utils import format_datetime
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aioresponses import CallbackResult

from sync import exporting, schema
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.errors import (
    AmbiguousWriteError,
    AuthError,
    ConnectionProblemError,
    LostAnswerError,
    NotFoundError,
    PermissionDeniedError,
    ServerError,
    ServerUnavailableError,
)

from .conftest import LINES, LOGIN, PIN, PROCESSES, PRODUCTS, TOKEN

RECORD_ID = "0F8FAD5B-D9CB-469F-A165-70867728950E"
PRODUCT = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
PROCESS = "16fd2706-8baf-433b-82eb-8c7fada847da"


def wire_record(**extra: str) -> dict[str, str]:
    record = {"id": RECORD_ID, "product_id": PRODUCT, "process_id": PROCESS,
              "line_number": "1", "active": "Active"}
    record.update(extra)
    return record


NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center>"
             "<h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n"
             "</body>\r\n</html>")
IIS_400 = ("<!DOCTYPE html><html><head><title>Bad Request</title><style>body{color:red}</style>"
           "<script>var secret = 1;</script></head><body><h2>Bad Request - Invalid Line</h2>"
           "<p>The line number &quot;0&quot; is not allowed &amp; was refused.</p></body></html>")


# --------------------------------------------------------------------------- error pages

async def test_html_error_page_becomes_a_readable_message_and_is_not_retried(server, client):
    server.post(LINES, status=400, body=IIS_400, content_type="text/html")
    with pytest.raises(ServerError) as caught:
        await client.create_line({schema.LINE_NUMBER.name: 0})
    message = str(caught.value)
    assert caught.value.status == 400
    assert "<" not in message and "var secret" not in message and "color:red" not in message
    assert 'The line number "0" is not allowed & was refused.' in message
    assert message.startswith("Bad Request")
    assert message.endswith("(HTTP 400)")
    assert len(message) <= 220
    assert len(server.sent("POST")) == 1


async def test_gateway_html_on_get_is_retried_then_reported_in_words(server, client):
    server.get(LINES, status=502, body=NGINX_502, content_type="text/html", repeat=True)
    with pytest.raises(ServerUnavailableError) as caught:
        await client.list_lines()
    error = caught.value
    assert isinstance(error, ConnectionProblemError) and not isinstance(error, ServerError)
    assert error.exit_code == 4 and error.status == 502
    assert "502 Bad Gateway" in str(error) and "nginx/1.25.3" in str(error)
    assert "acme.flowtrac.com" in str(error) and "<" not in str(error)
    assert len(server.sent("GET")) == 4          # the first try and 3 retries
    assert client.stats.retries == 3


async def test_json_error_words_are_quoted(server, client):
    server.put(LINES, status=400, payload={"error": "product_id cannot be modified"})
    with pytest.raises(ServerError) as caught:
        await client.update_line(RECORD_ID, {schema.PRODUCT_ID.name: PRODUCT})
    assert str(caught.value) == "product_id cannot be modified (HTTP 400)"
    assert caught.value.body == "product_id cannot be modified"


async def test_delete_answered_404_is_not_found(server, client):
    server.delete(LINES, status=404, body="No such record", content_type="text/plain")
    with pytest.raises(NotFoundError) as caught:
        await client.delete_line(RECORD_ID)
    assert caught.value.status == 404 and "No such record" in str(caught.value)
    assert len(server.sent("DELETE")) == 1
    body = json.loads(server.sent("DELETE")[0].kwargs["data"])
    assert body == {"id": RECORD_ID}


async def test_403_on_a_reference_lookup_is_permission_denied(server, client):
    server.get(PRODUCTS, status=403, payload={"message": "Forbidden for this badge"})
    with pytest.raises(PermissionDeniedError) as caught:
        await client.products_exist([PRODUCT])
    assert caught.value.status == 403 and "Forbidden for this badge" in str(caught.value)


async def test_redirect_is_refused_with_a_clear_sentence(server, client):
    server.get(LINES, status=302, headers={"Location": "https://login.other.example/sso?x=1"})
    with pytest.raises(ConnectionProblemError) as caught:
        await client.list_lines()
    assert "redirected" in str(caught.value) and "login.other.example/sso" in str(caught.value)
    assert "x=1" not in str(caught.value)


# --------------------------------------------------------------------------- Retry-After

async def test_retry_after_http_date_is_honoured(server, client):
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    server.get(LINES, status=429, headers={"Retry-After": format_datetime(later, usegmt=True)})
    server.get(LINES, payload=[wire_record()])
    records = await client.list_lines()
    assert [r[schema.ID.name] for r in records] == [RECORD_ID.lower()]
    [wait] = client._sleep.waits
    assert 28 <= wait <= 30 * 1.2 + 0.01              # a floor, spread by up to 20%
    assert client.stats.throttled == 1 and client.stats.retries == 1


async def test_retry_after_seconds_is_honoured_on_a_write(server, client):
    server.post(LINES, status=429, headers={"Retry-After": "7"})
    server.post(LINES, status=503, headers={"Retry-After": "2"})
    server.post(LINES, payload=wire_record())
    record = await client.create_line({schema.PRODUCT_ID.name: PRODUCT})
    assert record is not None and record[schema.ID.name] == RECORD_ID.lower()
    first, second = client._sleep.waits
    assert 7 <= first <= 7 * 1.2 + 0.01 and 2 <= second <= 2 * 1.2 + 0.01
    assert len(server.sent("POST")) == 3      # 429 and 503: refused before acting, re-sent


async def test_a_retry_after_of_hours_is_not_waited_for(server, client):
    server.get(LINES, status=503, headers={"Retry-After": "7200"})
    with pytest.raises(ServerUnavailableError, match="asks to wait 7200 s"):
        await client.list_lines()
    assert client._sleep.waits == []


# --------------------------------------------------------------------------- success bodies

async def test_200_with_an_html_page_on_get_is_a_clear_stop(server, client):
    page = "<!doctype html><html><head><title>Sign in</title></head><body>Sign in</body></html>"
    server.get(LINES, status=200, body=page, content_type="text/html")
    with pytest.raises(ConnectionProblemError) as caught:
        await client.list_lines()
    assert "an HTML page ('Sign in') instead of data" in str(caught.value)
    assert not isinstance(caught.value, ServerError)


async def test_truncated_json_is_a_clear_stop(server, client):
    body = json.dumps([wire_record(), wire_record()])[:-40]
    server.get(LINES, status=200, body=body)
    with pytest.raises(ConnectionProblemError, match="JSON that breaks off or is malformed"):
        await client.list_lines()


async def test_an_object_where_a_list_belongs_is_a_clear_stop(server, client):
    server.get(LINES, status=200, payload={"data": [wire_record()]})
    with pytest.raises(ConnectionProblemError, match="a JSON object where a list of records"):
        await client.list_lines()


async def test_a_list_of_non_records_is_a_clear_stop(server, client):
    server.get(LINES, status=200, payload=[1, 2, 3])
    with pytest.raises(ConnectionProblemError, match="something other than records"):
        await client.list_lines()


async def test_an_oversized_listing_that_narrowing_does_not_shrink_is_refused(server, client):
    # A server that ignores the id-range filters answers every narrower listing as large:
    # the client cuts the range only max_id_splits times, then stops with one sentence.
    client.max_listing_bytes = 4000
    client.max_id_splits = 2
    server.get(LINES, status=200, body=json.dumps([wire_record()] * 100), repeat=True)
    with pytest.raises(ConnectionProblemError,
                       match="more than 4000 bytes, even asked for in parts"):
        await client.list_lines()
    sent = [call.kwargs["params"] for call in server.sent("GET")]
    assert sent[0] is None and len(sent) == 3
    assert sent[2] == [("id-lt", "40000000-0000-0000-0000-000000000000")]


@pytest.mark.parametrize("body", ["", "<html><body>OK</body></html>", '{"ok": true}',
                                  '{"id": "not-a-uuid"}', "[]"])
async def test_a_write_answer_without_a_usable_record_gives_none(server, client, body):
    server.post(LINES, status=200, body=body)
    assert await client.create_line({schema.PRODUCT_ID.name: PRODUCT}) is None


async def test_a_200_answer_that_says_error_is_a_failure(server, client):
    server.post(LINES, status=200, payload={"error": "Line already exists"})
    with pytest.raises(ServerError, match="Line already exists"):
        await client.create_line({schema.PRODUCT_ID.name: PRODUCT})


async def test_created_record_is_canonical_and_body_uses_wire_names(server, client):
    server.post(LINES, payload=wire_record(product_minutes="5.00", product_dwell_mintues="2.50"))
    values = {schema.PRODUCT_ID.name: PRODUCT, schema.LINE_NUMBER.name: 3,
              "product_dwell_minutes": Decimal("2.5")}
    record = await client.create_line(values)
    assert record is not None
    assert record[schema.ID.name] == RECORD_ID.lower()
    assert record["product_minutes"] == Decimal(5)
    assert record["product_dwell_minutes"] == Decimal("2.5")
    [call] = server.sent("POST")
    assert json.loads(call.kwargs["data"]) == schema.wire_body(values)
    assert call.kwargs["headers"]["Content-Type"] == "application/json"
    assert call.kwargs["headers"]["Cookie"] == f"user={TOKEN}"


@pytest.mark.parametrize("spelling", ["product_dwell_minutes", "product_dwell_mintues"])
async def test_both_dwell_spellings_are_read(server, client, spelling):
    server.get(LINES, payload=[wire_record(**{spelling: "7.50"})])
    [record] = await client.list_lines()
    assert record["product_dwell_minutes"] == Decimal("7.5")
    assert spelling == "product_dwell_minutes" or spelling not in record


# --------------------------------------------------------------------------- lost answers

async def test_timeout_on_get_is_retried_then_succeeds(server, client):
    server.get(LINES, exception=TimeoutError())
    server.get(LINES, exception=aiohttp.ServerDisconnectedError())
    server.get(LINES, payload=[wire_record(line_number="4")])
    [record] = await client.list_lines()
    assert record[schema.LINE_NUMBER.name] == 4
    assert client.stats.retries == 2 and client.stats.errors == 2
    assert len(client._sleep.waits) == 2
    assert all(0 <= w <= client.backoff_max_s for w in client._sleep.waits)


@pytest.mark.parametrize("fault", [TimeoutError(), aiohttp.ServerDisconnectedError(),
                                   aiohttp.ClientPayloadError("broke")])
async def test_a_post_whose_answer_is_lost_is_ambiguous_and_not_resent(server, client, fault):
    server.post(LINES, exception=fault)
    server.post(LINES, payload=wire_record())          # must never be used
    with pytest.raises(AmbiguousWriteError):
        await client.create_line({schema.PRODUCT_ID.name: PRODUCT})
    assert len(server.sent("POST")) == 1
    assert client.stats.ambiguous == 1 and client.stats.retries == 0


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_write_answered_by_a_failing_gateway_is_ambiguous(server, client, status):
    server.put(LINES, status=status, body="upstream timed out", content_type="text/plain")
    with pytest.raises(LostAnswerError) as caught:
        await client.update_line(RECORD_ID, {schema.LINE_NUMBER.name: 2})
    assert caught.value.status == status and "upstream timed out" in str(caught.value)
    assert len(server.sent("PUT")) == 1


async def test_a_connection_that_never_opened_is_resent_even_for_a_write(server, client):
    refused = aiohttp.ClientConnectorError(
        connection_key=None, os_error=ConnectionRefusedError(111, "Connection refused"))
    server.delete(LINES, exception=refused)
    server.delete(LINES, status=200, body="")
    await client.delete_line(RECORD_ID)
    assert len(server.sent("DELETE")) == 2 and client.stats.retries == 1


# --------------------------------------------------------------------------- scoped listing

async def test_scoped_listing_goes_in_bounded_batches(server, client):
    client.listing_batch = 3
    products = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(8)]
    seen: list[list[str]] = []

    def answer(url, **kwargs):
        ids = parse_qs(urlsplit(str(url)).query)["product_id-in"][0].split(",")
        seen.append(ids)
        return CallbackResult(payload=[wire_record(product_id=i.upper()) for i in ids])

    server.get(LINES, callback=answer, repeat=True)
    records = await client.list_lines_for_products(products + products[:2])   # repeats ignored
    assert sorted(len(batch) for batch in seen) == [2, 3, 3]
    assert sorted(i for batch in seen for i in batch) == sorted(products)
    assert sorted(r[schema.PRODUCT_ID.name] for r in records) == sorted(products)


async def test_a_batch_refused_as_too_long_a_url_is_split(server, client):
    products = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(6)]
    sizes: list[int] = []

    def answer(url, **kwargs):
        ids = parse_qs(urlsplit(str(url)).query)["product_id-in"][0].split(",")
        sizes.append(len(ids))
        if len(ids) > 2:
            return CallbackResult(status=414, body="URI Too Long")
        return CallbackResult(payload=[wire_record(product_id=i) for i in ids])

    server.get(LINES, callback=answer, repeat=True)
    records = await client.list_lines_for_products(products)
    assert sorted(r[schema.PRODUCT_ID.name] for r in records) == products
    assert max(sizes) == 6 and sizes.count(6) == 1


async def test_reference_lookup_returns_the_known_ids_lower_cased(server, client):
    known = PRODUCT.upper()
    server.get(PRODUCTS, payload=[{"product_id": known, "product": "Widget"}])
    missing = "aaaaaaaa-0000-4000-8000-000000000000"
    assert await client.products_exist([PRODUCT, missing]) == {PRODUCT}


# --------------------------------------------------------------------------- secrets

async def test_secrets_never_reach_messages_logs_or_reprs(server, login_client, caplog):
    caplog.set_level(logging.DEBUG, logger="sync.client")
    cookie = "flow-auth-cookie-0a9b8c"
    server.post(LOGIN, status=200, headers={"Set-Cookie": f"flow_auth={cookie}; Path=/api/x"})
    echo = f"<html><title>Error</title><body>bad pin {PIN} cookie {cookie}</body></html>"
    server.get(LINES, status=400, body=echo, content_type="text/html")
    await login_client.login()
    with pytest.raises(ServerError) as caught:
        await login_client.list_lines()
    texts = [str(caught.value), repr(caught.value), caught.value.body or "", caplog.text,
             repr(login_client), str(login_client.connection)]
    for text in texts:
        assert PIN not in text and cookie not in text
    assert "bad pin *** cookie ***" in str(caught.value)
    # The login's cookie is sent to the API even though it was set for another path.
    [call] = server.sent("GET")
    assert call.kwargs["headers"]["Cookie"] == f"flow_auth={cookie}"
    assert "GET /product-processes -> 400" in caplog.text


async def test_a_bare_token_refused_with_401_is_an_auth_error(server, client, caplog):
    caplog.set_level(logging.DEBUG, logger="sync.client")
    server.get(LINES, status=401, body=f"token {TOKEN} expired", content_type="text/plain")
    with pytest.raises(AuthError) as caught:
        await client.list_lines()
    assert "session expired or the token is not valid" in str(caught.value)
    assert caught.value.exit_code == 4
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text


async def test_a_refused_login_is_an_auth_error_without_the_pin(server, login_client):
    server.post(LOGIN, status=401, payload={"error": "Invalid badge or PIN"})
    with pytest.raises(AuthError) as caught:
        await login_client.login()
    assert "badge 1001" in str(caught.value) and "Invalid badge or PIN" in str(caught.value)
    assert PIN not in str(caught.value)


async def test_a_login_that_sets_no_cookie_is_an_auth_error(server, login_client):
    server.post(LOGIN, status=200, body="<html>Welcome</html>", content_type="text/html")
    with pytest.raises(AuthError, match="without a session cookie"):
        await login_client.login()


async def test_a_session_refused_right_after_fresh_logins_stops(server, login_client):
    server.post(LOGIN, status=200, headers={"Set-Cookie": "user=abc123"}, repeat=True)
    server.get(LINES, status=401, repeat=True)
    with pytest.raises(AuthError, match="refused the session right after a fresh login"):
        await login_client.list_lines()
    assert len(server.sent("POST")) == 3


async def test_client_outside_async_with_is_a_programming_error():
    from sync.client import Connection

    client = FlowtracClient(Connection.from_options(company="acme", token=TOKEN))
    with pytest.raises(RuntimeError, match="async with"):
        await client.list_lines()


async def test_a_failing_batch_raises_its_own_error_not_a_group(server, client):
    client.listing_batch = 1
    products = [f"{n:08x}-0000-4000-8000-000000000000" for n in range(4)]

    def answer(url, **kwargs):
        ids = parse_qs(urlsplit(str(url)).query)["product_id-in"][0]
        if ids == products[2]:
            return CallbackResult(status=400, payload={"error": "bad filter"})
        return CallbackResult(payload=[])

    server.get(LINES, callback=answer, repeat=True)
    with pytest.raises(ServerError, match="bad filter"):
        await client.list_lines_for_products(products)


async def test_a_final_5xx_is_not_retried(server, client):
    server.get(LINES, status=501, body="Not Implemented", content_type="text/plain")
    with pytest.raises(ServerError) as caught:
        await client.list_lines()
    assert caught.value.status == 501 and len(server.sent("GET")) == 1


async def test_408_means_the_server_did_not_act_so_a_write_is_sent_again(server, client):
    server.post(LINES, status=408, body="Request Timeout", content_type="text/plain")
    server.post(LINES, payload=wire_record())
    assert await client.create_line({schema.PRODUCT_ID.name: PRODUCT}) is not None
    assert len(server.sent("POST")) == 2


@pytest.mark.parametrize(("body", "words"), [
    (b'{"error": {"message": "line_number must be positive"}}', "line_number must be positive"),
    (b'{"errors": ["a is wrong", "b is wrong"]}', "a is wrong; b is wrong"),
    (b'"just a string"', "just a string"),
    (b"  plain\n\ttext  ", "plain text"),
    (b"", ""),
    (b"<h1>Service Unavailable</h1><p>Back soon</p>", "Service Unavailable Back soon"),
])
def test_readable_error_finds_the_servers_words(body, words):
    from sync.client import readable_error

    assert readable_error(body) == words


def test_readable_error_is_bounded():
    from sync.client import MAX_WORDS, readable_error

    text = readable_error(b"x" * 10_000)
    assert len(text) == MAX_WORDS and text.endswith("...")


@pytest.mark.parametrize(("value", "seconds"), [
    ("3", 3.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), ("soon", None), ("", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),          # a date in the past: go now
])
def test_retry_after_values(value, seconds):
    from sync.client import _retry_after

    assert _retry_after(value) == seconds


async def test_an_export_lists_a_line_once_when_the_server_ignores_the_product_filter(
        server, monkeypatch, tmp_path):
    """A server that answers every ``product_id-in`` batch with all its lines: each line is
    exported once, in product-name order."""
    monkeypatch.setattr(exporting, "_ID_BATCH", 1)    # one batch per product
    other_product, other_line = PRODUCT.replace("7c9e", "8c9e"), RECORD_ID.replace("0F8F", "1F8F")
    products = [{"product_id": PRODUCT, "product": "Bracket", "barcode": "B-1"},
                {"product_id": other_product, "product": "Axle", "barcode": "A-1"}]

    def catalog(url, **kwargs):
        query = parse_qs(urlsplit(str(url)).query)
        wanted = (query.get("product") or query.get("barcode") or [None])[0]
        return CallbackResult(payload=[p for p in products if wanted in (None, p["product"],
                                                                         p["barcode"])])

    server.get(PRODUCTS, callback=catalog, repeat=True)
    server.get(PROCESSES, payload=[], repeat=True)
    server.get(LINES, payload=[wire_record(), wire_record(id=other_line,
                                                         product_id=other_product)],
               repeat=True)
    connection = Connection.from_options(company="acme", token=TOKEN, badge=None)
    exported = await exporting.export(connection, tmp_path / "lines.csv",
                                      products=["Bracket", "Axle"])
    assert len([c for c in server.sent("GET") if "product_id-in" in str(c.kwargs)]) == 2
    with exported.path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert exported.lines == 2
    assert [(r["product"], r["id"]) for r in rows] == [("Axle", other_line.lower()),
                                                      ("Bracket", RECORD_ID.lower())]
