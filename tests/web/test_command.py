"""``flowtrac-sync serve``: options, refusals, the non-loopback warning, a real run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from sync.cli import main
from sync.web import command


@pytest.fixture
def served(monkeypatch):
    """Run ``serve`` through click without serving: the settings it would serve with."""
    calls = []

    async def fake_serve(settings, host, port, *, access_log):
        calls.append((settings, host, port))

    monkeypatch.setattr(command, "_serve", fake_serve)
    for name in ("FLOWTRAC_COMPANY", "FLOWTRAC_BASE_URL", "FLOWTRAC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return calls


def _run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["serve", *args], env=env)


def test_serve_is_a_command_with_the_connection_options():
    result = _run("--help")
    assert result.exit_code == 0
    for option in ("--port", "--host", "--demo", "--company", "--base-url", "--insecure",
                   "--allow-http", "--max-upload-mb"):
        assert option in result.output


def test_serve_needs_to_know_which_flowtrac(served):
    result = _run()
    assert result.exit_code == 2 and "Say which Flowtrac to talk to" in result.output
    assert not served


def test_company_and_environment(served):
    assert _run("--company", "acme").exit_code == 0
    assert served[-1][0].base_url == "https://acme.flowtrac.com/api"
    assert served[-1][1] == "127.0.0.1"                     # loopback by default
    result = _run(env={"FLOWTRAC_BASE_URL": "http://127.0.0.1:8765/api"})
    assert result.exit_code == 0 and served[-1][0].base_url == "http://127.0.0.1:8765/api"


def test_plain_http_to_another_host_needs_allow_http(served):
    result = _run("--base-url", "http://flowtrac.example/api")
    assert result.exit_code == 2 and "Refusing to send credentials over plain http" in (
        result.output)
    assert _run("--base-url", "http://flowtrac.example/api", "--allow-http").exit_code == 0


def test_demo_refuses_a_target_given_on_the_command_line(served):
    result = _run("--demo", "--base-url", "http://127.0.0.1:1/api")
    assert result.exit_code == 2 and "--demo runs its own Flowtrac emulator" in result.output
    result = _run("--demo", env={"FLOWTRAC_COMPANY": "acme"})   # the environment is ignored
    assert result.exit_code == 0 and served[-1][0].demo and served[-1][0].base_url is None


def test_binding_beyond_loopback_warns(served):
    result = _run("--company", "acme", "--host", "0.0.0.0")
    assert result.exit_code == 0
    assert "warning: listening on 0.0.0.0" in result.output
    assert served[-1][0].listen_host == "0.0.0.0"
    assert "warning" not in _run("--company", "acme").output


def test_public_url_is_checked_and_passed_on(served, tmp_path):
    result = _run("--company", "acme", "--public-url", "HTTPS://Flowtrac.Example.com:443/")
    assert result.exit_code == 0 and served[-1][0].public_url == "https://flowtrac.example.com"
    assert "warning" not in result.output
    result = _run("--company", "acme", env={"FLOWTRAC_PUBLIC_URL": "https://planning.example"})
    assert result.exit_code == 0 and served[-1][0].public_url == "https://planning.example"
    config = tmp_path / "serve.toml"
    config.write_text('company = "acme"\npublic_url = "https://flowtrac.example.com:8443"\n')
    assert _run("--config", str(config)).exit_code == 0
    assert served[-1][0].public_url == "https://flowtrac.example.com:8443"
    result = _run("--company", "acme", "--public-url", "https://flowtrac.example.com",
                  "--host", "0.0.0.0")
    assert result.exit_code == 0 and "around the proxy, over plain http" in result.output


def test_serve_behind_a_proxy_names_the_public_address_and_answers_to_it(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "sync.cli", "serve", "--demo",
                                "--port", "0", "--public-url", "https://flowtrac.example.com/"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Planners' page: https://flowtrac.example.com/ (your proxy's "
                                "address; this server listens on http://127.0.0.1:"), first
        url = first.rsplit(" ", 1)[1].rstrip(")\n")
        for host, status in (("flowtrac.example.com", 200), ("evil.example", 421)):
            request = urllib.request.Request(url, headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    assert answer.status == status
                    assert "; Secure" in answer.headers["Set-Cookie"]
            except urllib.error.HTTPError as refused:
                assert refused.code == status
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err


def test_a_public_url_with_a_path_is_refused_before_serving(served, tmp_path):
    count = len(served)
    result = _run("--company", "acme", "--public-url", "https://example.com/flowtrac/")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.startswith("error: --public-url must not have a path (/flowtrac/)")
    config = tmp_path / "serve.toml"
    config.write_text('company = "acme"\npublic_url = 8443\n')
    result = _run("--config", str(config))
    assert result.exit_code == 2 and "--public-url must be like https://" in result.output
    assert len(served) == count


def test_config_file_gives_the_target_but_never_credentials(served, tmp_path):
    config = tmp_path / "flowtrac.toml"
    config.write_text('base_url = "http://127.0.0.1:8765/api"\ntoken = "tok-in-config"\n')
    config.chmod(0o600)
    result = _run("--config", str(config))
    assert result.exit_code == 0
    assert served[-1][0].base_url == "http://127.0.0.1:8765/api"
    assert "does not use the config file's token" in result.output
    assert "tok-in-config" not in result.output


def test_serve_demo_runs_until_interrupted_and_cleans_up(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen([sys.executable, "-m", "sync.cli", "serve", "--demo",
                                "--port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("Planners' page: http://127.0.0.1:"), first
        url = first.split(": ", 1)[1].strip()
        with urllib.request.urlopen(url, timeout=10) as answer:
            page = answer.read().decode()
        assert "Sign in to the demo" in page
        assert any(p.name.startswith("flowtrac-sync-web-") for p in tmp_path.iterdir())
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "Stopped; uploads removed." in out
    assert not any(p.name.startswith("flowtrac-sync-web-") for p in tmp_path.iterdir())
