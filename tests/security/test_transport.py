"""The way credentials travel: TLS certificates are verified unless --insecure says otherwise,
credentials never go over plain http:// to another machine unless --allow-http says so, and a
config file holding a secret that others can read is pointed out."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sheetkit import write_sheet

from sync import schema
from sync.cli import main as cli
from sync.client import FlowtracClient
from sync.connection import Connection
from sync.emulator import DEMO_TOKEN, EmulatorConfig, Store, generate_dataset, make_app
from sync.errors import UsageError


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def routing_sheet(folder: Path, store: Store) -> Path:
    rows = [schema.record_from_wire(r) for r in store.lines()]
    return write_sheet(folder / "routing.csv", rows)


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl is on every machine we run on)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return cert, key


class TlsEmulator:
    """The emulator behind HTTPS with the self-signed certificate, in a thread."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.store = Store()
        self.store.load(generate_dataset(2, 2))
        self.port = 0
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/api"

    async def _serve(self) -> None:
        from aiohttp import web

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        runner = web.AppRunner(make_app(EmulatorConfig(), self.store), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.context).start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    def __enter__(self) -> TlsEmulator:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def tls_emulator(certificate: tuple[Path, Path]) -> Iterator[TlsEmulator]:
    with TlsEmulator(*certificate) as emu:
        yield emu


@pytest.mark.timeout(30)
def test_an_unverifiable_certificate_stops_the_run_and_insecure_is_explicit(
        tls_emulator: TlsEmulator, tmp_path: Path) -> None:
    path = routing_sheet(tmp_path, tls_emulator.store)
    refused = run("plan", str(path), "--base-url", tls_emulator.base_url, "--token", DEMO_TOKEN)
    assert refused.exit_code == 4
    assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    assert "certificate" in refused.stderr and "--insecure" in refused.stderr
    assert tls_emulator.store.request_count == 0  # the handshake failed: nothing was sent
    allowed = run("plan", str(path), "--base-url", tls_emulator.base_url, "--token",
                  DEMO_TOKEN, "--insecure")
    assert allowed.exit_code == 0, allowed.stderr
    assert tls_emulator.store.request_count > 0


def test_verification_is_on_unless_asked_off() -> None:
    assert Connection.from_options(company="acme", token="t").verify_tls is True
    assert Connection.from_options(company="acme", token="t", insecure=True).verify_tls is False
    assert Connection.from_options(company="acme", token="t").base_url.startswith("https://")


# --------------------------------------------------------------------------- plain http


@pytest.fixture
def no_connection(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fails loudly (and records) if a client session is ever opened."""
    opened: list[str] = []

    async def refuse(self: FlowtracClient) -> FlowtracClient:
        opened.append(self.connection.base_url)
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(FlowtracClient, "__aenter__", refuse)
    return opened


@pytest.mark.parametrize("how", ["option", "environment", "config"])
def test_credentials_over_plain_http_to_another_host_are_refused(
        how: str, tmp_path: Path, no_connection: list[str]) -> None:
    path = tmp_path / "routing.csv"
    path.write_text("product_id,process_id,line_number\n")
    url = "http://192.0.2.1/api"  # TEST-NET-1: never routed; nothing may be sent there
    args = ["plan", str(path)]
    env = None
    if how == "option":
        args += ["--base-url", url, "--token", "x-token"]
    elif how == "environment":
        env = {"FLOWTRAC_BASE_URL": url, "FLOWTRAC_TOKEN": "x-token"}
    else:
        config = tmp_path / "nightly.toml"
        config.write_text(f'base_url = "{url}"\ntoken = "x-token"\n')
        config.chmod(0o600)
        args += ["--config", str(config)]
    started = time.monotonic()
    result = run(*args, env=env)
    assert time.monotonic() - started < 3
    assert result.exit_code == 2
    assert result.stderr == ("error: Refusing to send credentials over plain http:// to "
                             "192.0.2.1; use https://, or --allow-http if this network is "
                             "trusted.\n")
    assert no_connection == []
    assert "x-token" not in result.stdout + result.stderr


def test_allow_http_is_the_explicit_way_and_loopback_needs_none() -> None:
    url = "http://192.0.2.1:8080/api"
    with pytest.raises(UsageError):
        Connection.from_options(base_url=url, badge="1", pin="2")
    allowed = Connection.from_options(base_url=url, badge="1", pin="2", allow_http=True)
    assert allowed.base_url == url
    for local in ("http://127.0.0.1:8765/api", "http://localhost:8765/api",
                  "http://[::1]:8765/api", "http://127.9.9.9/api"):
        assert Connection.from_options(base_url=local, token="t").base_url == local


# --------------------------------------------------------------------------- config files


@pytest.mark.parametrize("mode, warned", [(0o644, True), (0o640, True), (0o600, False)])
def test_a_config_file_with_a_secret_readable_by_others_is_pointed_out(
        emulator_thread, tmp_path: Path, mode: int, warned: bool) -> None:
    emu = emulator_thread(dataset=generate_dataset(2, 1))
    config = tmp_path / "nightly.toml"
    config.write_text(f'base_url = "{emu.base_url}"\ntoken = "{DEMO_TOKEN}"\n')
    os.chmod(config, mode)
    result = run("plan", str(routing_sheet(tmp_path, emu.store)), "--config", str(config))
    assert result.exit_code == 0, result.stderr
    warning = (f"warning: config file {config} holds a token and can be read by other users; "
               f"run: chmod 600 {config}")
    assert (warning in result.stderr) is warned
    assert DEMO_TOKEN not in result.stdout + result.stderr


def test_a_readable_config_without_a_secret_is_fine(emulator_thread, tmp_path: Path) -> None:
    emu = emulator_thread(dataset=generate_dataset(2, 1))
    config = tmp_path / "nightly.toml"
    config.write_text(f'base_url = "{emu.base_url}"\nmode = "upsert"\n')
    os.chmod(config, 0o644)
    result = run("plan", str(routing_sheet(tmp_path, emu.store)), "--config", str(config),
                 "--token", DEMO_TOKEN)
    assert result.exit_code == 0, result.stderr
    assert "warning: config file" not in result.stderr
