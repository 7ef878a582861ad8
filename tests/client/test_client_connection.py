"""Connection.from_options: where the server is, which credentials, and what is refused."""

from __future__ import annotations

import pytest

from sync.connection import Connection
from sync.errors import UsageError


def test_company_name_gives_the_flowtrac_address():
    connection = Connection.from_options(company="Acme-Corp", token="t0ken-abc")
    assert connection.base_url == "https://acme-corp.flowtrac.com/api"
    assert connection.host == "acme-corp.flowtrac.com"
    assert connection.verify_tls is True


@pytest.mark.parametrize(("given", "expected"), [
    ("https://acme.flowtrac.com/api", "https://acme.flowtrac.com/api"),
    ("https://acme.flowtrac.com/api/", "https://acme.flowtrac.com/api"),
    ("https://acme.flowtrac.com", "https://acme.flowtrac.com/api"),
    ("https://acme.flowtrac.com/", "https://acme.flowtrac.com/api"),
    ("https://acme.flowtrac.com/api/product-processes", "https://acme.flowtrac.com/api"),
    ("http://127.0.0.1:8765/api", "http://127.0.0.1:8765/api"),
    ("https://proxy.example/flowtrac/v1", "https://proxy.example/flowtrac/v1"),
])
def test_base_url_forms(given, expected):
    assert Connection.from_options(base_url=given, token="t0ken-abc").base_url == expected


def test_host_keeps_the_port():
    connection = Connection.from_options(base_url="http://localhost:8765/api", token="t0ken")
    assert connection.host == "localhost:8765"


@pytest.mark.parametrize(("options", "fragment"), [
    ({"token": "t"}, "--company NAME or --base-url"),
    ({"company": "acme", "base_url": "https://a.example", "token": "t"}, "not both"),
    ({"company": "acme"}, "Give --token, or --badge and --pin"),
    ({"company": "acme", "badge": "1001"}, "--badge and --pin go together"),
    ({"company": "acme", "pin": "4321"}, "--badge and --pin go together"),
    ({"company": "acme.evil.example/x", "token": "t"}, "--company must be the name"),
    ({"base_url": "ftp://acme.example/api", "token": "t"}, "http:// or https://"),
    ({"base_url": "acme.flowtrac.com", "token": "t"}, "http:// or https://"),
    ({"base_url": "https://acme.example/api?x=1", "token": "t"}, "query"),
    ({"base_url": "https://acme.example:99999/api", "token": "t"}, "bad port"),
    ({"company": "acme", "token": "t", "timeout_s": 0}, "timeout"),
])
def test_bad_options_are_usage_errors(options, fragment):
    with pytest.raises(UsageError, match=fragment.replace("?", r"\?")):
        Connection.from_options(**options)


def test_empty_strings_count_as_not_given():
    with pytest.raises(UsageError, match="Give --token"):
        Connection.from_options(company="acme", token="", badge=" ", pin="")


def test_user_info_in_the_url_is_refused_without_echoing_it():
    with pytest.raises(UsageError) as caught:
        Connection.from_options(base_url="https://bob:hunter2@acme.example/api", token="t")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("host", ["flowtrac.internal", "10.0.0.5", "acme.flowtrac.com"])
def test_credentials_over_plain_http_are_refused(host):
    with pytest.raises(UsageError, match=f"plain http:// to {host}"):
        Connection.from_options(base_url=f"http://{host}/api", token="secret-token")


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost", "[::1]:9000", "127.0.0.2"])
def test_plain_http_to_loopback_is_allowed(host):
    connection = Connection.from_options(base_url=f"http://{host}/api", token="secret-token")
    assert connection.base_url == f"http://{host}/api"


def test_allow_http_lets_plain_http_through():
    connection = Connection.from_options(base_url="http://flowtrac.internal/api",
                                         badge="1001", pin="4321", allow_http=True)
    assert connection.base_url == "http://flowtrac.internal/api"


def test_insecure_turns_off_tls_verification():
    connection = Connection.from_options(company="acme", token="t", insecure=True)
    assert connection.verify_tls is False


def test_repr_and_str_mask_token_and_pin():
    connection = Connection.from_options(company="acme", token="tok-s3cr3t-value",
                                         badge="1001", pin="98127")
    for text in (repr(connection), str(connection), f"{connection}"):
        assert "tok-s3cr3t-value" not in text and "98127" not in text
        assert "token='***'" in text and "pin='***'" in text and "badge='1001'" in text
    assert connection.can_login
