"""The command line (`python -m sync.emulator`, `flowtrac-sync emulator`) and the thread runner."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from sync.emulator import (
    DEMO_BADGE,
    DEMO_PIN,
    DEMO_TOKEN,
    EmulatorConfig,
    EmulatorThread,
    generate_dataset,
)
from sync.emulator.command import emulator as emulator_command

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Process:
    """``python -m sync.emulator ...`` until it prints its base URL."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync.emulator", *args], cwd=ROOT, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.banner: list[str] = []
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.banner.append(line)
            if line.startswith("Press Ctrl-C"):
                break
        else:
            raise AssertionError("the emulator exited: " + self.proc.stderr.read())  # type: ignore

    def stop(self, signum: int) -> tuple[int, str, str]:
        self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, "".join(self.banner) + out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def start_process():
    started: list[_Process] = []

    def start(*args: str) -> _Process:
        started.append(_Process(*args))
        return started[-1]

    yield start
    for process in started:
        process.kill()


async def test_python_m_serves_generated_data_and_stops_cleanly_on_ctrl_c(start_process):
    port = _free_port()
    process = start_process("--port", str(port), "--products", "3", "--lines", "2")
    base = f"http://127.0.0.1:{port}/api"
    banner = "".join(process.banner)
    assert base in banner and DEMO_TOKEN in banner and DEMO_BADGE in banner and DEMO_PIN in banner
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.post(f"{base}/device-login/",
                                data={"badge": DEMO_BADGE, "pin": DEMO_PIN}) as response:
            assert response.status == 200
        async with session.get(f"{base}/product-processes") as response:
            lines = await response.json()
    assert len(lines) == 6
    assert lines == generate_dataset(3, 2).lines  # --dataset-seed defaults to 1
    code, out, err = process.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in err and "Emulator stopped." in out


async def test_command_with_db_keeps_data_across_runs_and_stops_on_sigterm(start_process,
                                                                          tmp_path):
    port, db = _free_port(), tmp_path / "emulator.sqlite"
    args = ("--port", str(port), "--db", str(db), "--products", "2", "--lines", "1")
    base = f"http://127.0.0.1:{port}/api"
    headers = {"Cookie": f"user={DEMO_TOKEN}"}
    process = start_process(*args)
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{base}/product-processes") as response:
            victim = (await response.json())[0]["id"]
        async with session.delete(f"{base}/product-processes", json={"id": victim}) as response:
            assert response.status == 200
    assert process.stop(signal.SIGTERM)[0] == 0
    again = start_process(*args)
    assert any("Using the data already in" in line for line in again.banner)
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{base}/product-processes") as response:
            assert [r["id"] for r in await response.json()] == [
                r["id"] for r in generate_dataset(2, 1).lines if r["id"] != victim]


async def test_fault_options_reach_the_server(start_process):
    port = _free_port()
    process = start_process("--port", str(port), "--products", "1", "--lines", "1",
                            "--error-rate", "1", "--token", "t1", "--token", "t2")
    async with aiohttp.ClientSession(headers={"Cookie": "user=t2"}) as session:
        async with session.get(f"http://127.0.0.1:{port}/api/products") as response:
            assert response.status in (500, 503)
    assert "t1" in "".join(process.banner)


def test_a_bad_seed_file_exits_2_with_one_line(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text('{"lines": [{"line_number": 1}]}')
    result = CliRunner().invoke(emulator_command, ["--seed", str(seed), "--port", "0"])
    assert result.exit_code == 2
    assert "seed.json lines[1]: product_id is required" in result.output
    assert "Traceback" not in result.output


def test_a_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(emulator_command, ["--port", str(port), "--products", "1"])
    assert result.exit_code == 1
    assert f"Cannot serve on 127.0.0.1:{port}" in result.output


def test_emulator_thread_serves_synchronous_callers(emulator_thread):
    emu = emulator_thread(EmulatorConfig(tokens={"sync-token"}), generate_dataset(2, 2))
    request = urllib.request.Request(
        f"{emu.base_url}/product-processes?line_number=2", headers={"Cookie": "user=sync-token"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = json.loads(response.read())
    assert [r["line_number"] for r in body] == ["2", "2"]
    assert emu.store.request_count == 1
    emu.restart()
    with urllib.request.urlopen(request, timeout=10) as response:
        assert len(json.loads(response.read())) == 2


def test_emulator_thread_stops_on_exit():
    with EmulatorThread() as emu:
        url = emu.base_url
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/products", timeout=2)


def test_an_unusable_database_is_a_clear_error(tmp_path):
    db = tmp_path / "missing-folder" / "emulator.sqlite"
    result = CliRunner().invoke(emulator_command, ["--db", str(db), "--port", "0"])
    assert result.exit_code == 1
    assert f"Cannot use the database {db}" in result.output
    assert "Traceback" not in result.output
