"""Where the Flowtrac server is and how to log in: ``Connection``, built from the command
line, the environment or a config file.  No network code here (``sync.client`` holds it), so
the command line reads its options without loading the HTTP stack."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from .errors import UsageError

__all__ = ["LINES_PATH", "Connection", "is_loopback", "url_for_message"]

LINES_PATH = "product-processes"

_COMPANY_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Connection:
    """Where the server is and how to log in; ``repr`` masks the token and PIN."""

    base_url: str
    token: str | None = None
    badge: str | None = None
    pin: str | None = None
    verify_tls: bool = True
    timeout_s: float = 30.0

    def __repr__(self) -> str:
        token = None if self.token is None else "***"
        pin = None if self.pin is None else "***"
        return (f"Connection(base_url={self.base_url!r}, token={token!r}, badge={self.badge!r}, "
                f"pin={pin!r}, verify_tls={self.verify_tls!r}, timeout_s={self.timeout_s!r})")

    __str__ = __repr__

    @property
    def host(self) -> str:
        """``host[:port]`` of the server, as a person names it ("Apply 5 changes to ...?")."""
        return urlsplit(self.base_url).netloc

    @property
    def can_login(self) -> bool:
        return bool(self.badge and self.pin)

    @classmethod
    def from_options(cls, *, company: str | None = None, base_url: str | None = None,
                     token: str | None = None, badge: str | None = None,
                     pin: str | None = None, insecure: bool = False, allow_http: bool = False,
                     timeout_s: float = 30.0) -> Connection:
        """Build a connection from command-line / environment / config values.

        ``company`` NAME means ``https://NAME.flowtrac.com/api``.  ``base_url`` is used as
        given, except that a trailing ``/`` or ``/product-processes`` is dropped and a URL with
        no path at all gets ``/api`` (``https://acme.example`` -> ``https://acme.example/api``).
        Empty strings count as not given (an empty environment variable).
        """
        company, base_url, token, badge, pin = (
            (value.strip() or None) if isinstance(value, str) else value
            for value in (company, base_url, token, badge, pin))
        if company and base_url:
            raise UsageError("Give either --company or --base-url, not both.")
        if company:
            name = company.lower()
            if not _COMPANY_RE.match(name):
                raise UsageError(f"--company must be the name in https://NAME.flowtrac.com, "
                                 f"got {company[:60]!r}.")
            url = f"https://{name}.flowtrac.com/api"
        elif base_url:
            url = _normal_base_url(base_url)
        else:
            raise UsageError("Say which Flowtrac to talk to: --company NAME or --base-url URL "
                             "(or FLOWTRAC_COMPANY / FLOWTRAC_BASE_URL).")
        if bool(badge) != bool(pin):
            raise UsageError("--badge and --pin go together: give both, or a --token.")
        if not token and not badge:
            raise UsageError("Give --token, or --badge and --pin, to log in "
                             "(or FLOWTRAC_TOKEN, or FLOWTRAC_BADGE and FLOWTRAC_PIN).")
        if timeout_s <= 0:
            raise UsageError("The timeout must be a positive number of seconds.")
        parts = urlsplit(url)
        if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname or ""):
            raise UsageError(f"Refusing to send credentials over plain http:// to "
                             f"{parts.netloc}; use https://, or --allow-http if this network "
                             f"is trusted.")
        return cls(url, token=token, badge=badge, pin=pin, verify_tls=not insecure,
                   timeout_s=float(timeout_s))


def _normal_base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--base-url must be an http:// or https:// address, got "
                         f"{url_for_message(raw)!r}.")
    if parts.username or parts.password:
        raise UsageError("--base-url must not hold a user name or password; use --token, or "
                         "--badge and --pin.")
    if parts.query or parts.fragment:
        raise UsageError(f"--base-url must not have a query or fragment, got "
                         f"{url_for_message(raw)!r}.")
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise UsageError(f"--base-url has a bad port: {url_for_message(raw)!r}.") from None
    path = parts.path.rstrip("/")
    if path.endswith("/" + LINES_PATH):
        path = path[: -len(LINES_PATH) - 1]
    if not path:
        path = "/api"
    return f"{parts.scheme}://{parts.netloc}{path}"


def url_for_message(raw: str) -> str:
    """A URL as it may appear in a message: no user info, query or fragment, 100 chars."""
    try:
        parts = urlsplit(raw)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        shown = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else raw.split("?")[0]
    except ValueError:
        shown = "(unreadable)"
    return shown[:100]


def is_loopback(host: str) -> bool:
    """True for a host name or address that stays on this machine (localhost, 127.0.0.0/8,
    ::1).  An empty host is not: a server told to listen on "" listens everywhere."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
