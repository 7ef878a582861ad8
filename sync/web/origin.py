"""Which host names and origins the page answers to.

Listening on loopback, the page answers only to loopback names (a site that rebinds its name
to 127.0.0.1 must not reach it).  Behind a reverse proxy (``serve --public-url``) it answers
to exactly the public URL, plus the loopback names and the listening address for a proxy that
does not pass the browser's Host on.  ``X-Forwarded-*`` and ``Forwarded`` are never read:
any client can send them, and the public URL already says what the proxy would.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sync.connection import is_loopback
from sync.errors import UsageError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*")
_EXAMPLE = "https://flowtrac.example.com or https://flowtrac.example.com:8443"


@dataclass(frozen=True)
class PublicUrl:
    """The address planners open, where a proxy hands the requests on to this server."""

    scheme: str
    host: str    # lower case, ASCII (IDNA); an IPv6 address without brackets
    port: int    # as given, or the scheme's default

    @property
    def origin(self) -> str:
        """As a browser sends it in ``Origin``: the default port left out."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return f"{self.scheme}://{host}"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


def parse_public_url(raw: str) -> PublicUrl:
    """``https://host[:port]`` (or ``http://``) as a PublicUrl; UsageError in one sentence
    for anything else.  A path is refused: every link of the page starts at ``/``, so the
    proxy must serve it at the root of its own host name or port."""
    text = raw.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise UsageError(f"--public-url {text!r} is not a URL like {_EXAMPLE}.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise UsageError(f"--public-url must be like {_EXAMPLE} (http:// or https://), "
                         f"got {text!r}.")
    if parts.username is not None or parts.password is not None:
        raise UsageError("--public-url must not hold a user name or password.")
    if parts.path not in ("", "/"):
        raise UsageError(f"--public-url must not have a path ({parts.path}): the page's links "
                         f"start at /, so the proxy must serve it at the root of its own host "
                         f"name or port.")
    if parts.query or parts.fragment:
        raise UsageError("--public-url must not have a query or a #fragment.")
    return PublicUrl(scheme, _checked_host(parts.hostname or "", text),
                     port or _DEFAULT_PORTS[scheme])


def _checked_host(host: str, text: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_host = ""
    if not _HOST_NAME.fullmatch(ascii_host):
        raise UsageError(f"--public-url {text!r} does not name a valid host.")
    return ascii_host


def _split_host_header(host_header: str) -> tuple[str, int | None] | None:
    """``Host`` as (lower-case name, port or None): ``[::1]:8780`` -> ``("::1", 8780)``;
    None when it cannot be read (a port that is not a number)."""
    host = host_header.strip().lower()
    port = ""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        if rest.startswith(":"):
            port = rest[1:]
        elif rest:
            return None
    elif host.count(":") == 1:
        name, port = host.split(":")
    else:
        name = host
    if port and not port.isdigit():
        return None
    return name, int(port) if port else None


@dataclass(frozen=True)
class Origins:
    """What the Host and Origin checks accept, and whether the session cookie is Secure."""

    #: Names accepted with any port; empty with no public URL means any name at all.
    local_names: frozenset[str]
    public: PublicUrl | None = None

    @classmethod
    def of(cls, listen_host: str, public_url: str | None) -> Origins:
        public = parse_public_url(public_url) if public_url else None
        listen = listen_host.strip("[]").lower()
        if public is None and not is_loopback(listen):
            return cls(frozenset())
        # A wildcard address is no name a proxy could dial.
        names = {"localhost", "127.0.0.1", "::1", listen} - {"", "0.0.0.0", "::"}
        return cls(frozenset(names), public)

    def host_ok(self, host_header: str) -> bool:
        if not self.local_names and self.public is None:
            return True     # listening on a network address: any name may lead here
        split = _split_host_header(host_header)
        if split is None:
            return False
        name, port = split
        public = self.public
        if public is not None and name == public.host and (
                port or _DEFAULT_PORTS[public.scheme]) == public.port:
            return True
        return name in self.local_names

    def origin_ok(self, origin: str, *, scheme: str, host_header: str) -> bool:
        """A browser's ``Origin``: the public one behind a proxy, else this server's own."""
        if self.public is not None:
            return origin.lower() == self.public.origin
        return origin == f"{scheme}://{host_header}"

    def cookie_secure(self, request_secure: bool) -> bool:
        """Behind an https proxy the cookie is Secure though this server speaks http."""
        return self.public.secure if self.public is not None else request_secure

    def refusal(self) -> str:
        """The answer to a request for another name (status 421)."""
        if self.public is not None:
            return f"This server answers only to {self.public.origin}/.\n"
        return "This server answers only to localhost / 127.0.0.1.\n"
