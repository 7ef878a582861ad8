"""An https reverse proxy for the tests, in front of the page's server on loopback.

TLS with a self-signed certificate made by the ``openssl`` command for the test; every request
is handed on to ``upstream`` with its headers as the client sent them (``X-Forwarded-*``
included, as a proxy that passes them through would), and the Host kept (nginx's
``proxy_set_header Host $host``) or, with ``preserve_host=False``, replaced by the upstream's
address (nginx's default).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict

#: Hop-by-hop headers (RFC 9110 7.6.1) and the length, which the proxy sets itself.
_NOT_FORWARDED = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                  "transfer-encoding", "upgrade", "content-length"}


def self_signed_certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """(certificate, key) for ``name`` and 127.0.0.1, valid for a day."""
    cert, key = folder / "proxy.crt", folder / "proxy.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", f"/CN={name}", "-addext",
         f"subjectAltName=DNS:{name},IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    return cert, key


@dataclass
class RunningProxy:
    port: int
    #: Where requests go, e.g. ``http://127.0.0.1:8780``; set once that server runs.
    upstream: str = ""
    preserve_host: bool = True


@contextlib.asynccontextmanager
async def running_https_proxy(cert: Path, key: str | Path, *, preserve_host: bool = True
                              ) -> AsyncIterator[RunningProxy]:
    """Serve https on a free loopback port for the duration of the block."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    proxy = RunningProxy(port=0, preserve_host=preserve_host)
    async with aiohttp.ClientSession(auto_decompress=False) as client:

        async def forward(request: web.Request) -> web.StreamResponse:
            headers = CIMultiDict((k, v) for k, v in request.headers.items()
                                  if k.lower() not in _NOT_FORWARDED)
            if not proxy.preserve_host:
                del headers["Host"]       # the client session names the upstream instead
            async with client.request(request.method, proxy.upstream + request.rel_url.raw_path_qs,
                                      headers=headers, data=await request.read(),
                                      allow_redirects=False) as answer:
                body = await answer.read()
                kept = CIMultiDict((k, v) for k, v in answer.headers.items()
                                   if k.lower() not in _NOT_FORWARDED)
                return web.Response(status=answer.status, headers=kept, body=body)

        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", forward)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
            await site.start()
            proxy.port = runner.addresses[0][1]
            yield proxy
        finally:
            await runner.cleanup()


class LoopbackResolver(AbstractResolver):
    """Every name resolves to 127.0.0.1, as ``--host-resolver-rules`` does for Chromium: a
    client can open ``https://flowtrac.test:PORT/`` and reach the proxy."""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port,
                              family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        pass


def client_session() -> aiohttp.ClientSession:
    """A client for the proxy's public name: every name on loopback, the test's certificate
    accepted, cookies kept as a browser keeps them."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(
        ssl=False, resolver=LoopbackResolver()))
