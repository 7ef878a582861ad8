"""Settings for nightly jobs: precedence command line > environment > config file > default,
secrets masked, a readable secret warned about, and ``config check`` testing the login."""

from __future__ import annotations

import os
import re
from pathlib import Path

from click.testing import CliRunner, Result

from sync.cli import main
from sync.emulator import DEMO_BADGE, DEMO_TOKEN, EmulatorConfig

#: Every variable the options read, unset unless a test sets it.
CLEAN_ENV = {name: None for name in (
    "FLOWTRAC_COMPANY", "FLOWTRAC_BASE_URL", "FLOWTRAC_TOKEN", "FLOWTRAC_BADGE",
    "FLOWTRAC_PIN", "FLOWTRAC_CONFIG")}
#: Nothing listens here: a setting that wins with this value makes the login fail (exit 4).
DEAD_URL = "http://127.0.0.1:9/api"


def _config(folder: Path, text: str, mode: int = 0o600) -> Path:
    path = folder / "nightly.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def _check(args: list[str], **env: str | None) -> Result:
    return CliRunner().invoke(main, ["config", "check", *args], env={**CLEAN_ENV, **env})


def _settings(result: Result) -> dict[str, tuple[str, str]]:
    """``name -> (value, source)`` from config check's listing."""
    found = {}
    for line in result.stdout.splitlines():
        match = re.match(r"^  (\w+)\s+(.*?)\s+\[(.+)\]$", line)
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def test_precedence_command_line_environment_config_default(emulator_thread, tmp_path):
    emu = emulator_thread()
    config = _config(tmp_path, f'base_url = "{DEAD_URL}"\ntoken = "{DEMO_TOKEN}"\n'
                               'concurrency = 4\nretries = 2\nmode = "mirror"\n')

    # Config file alone: its base_url wins over nothing, and it leads nowhere.
    result = _check(["--config", str(config)])
    shown = _settings(result)
    assert shown["base_url"] == (DEAD_URL, "config file")
    assert shown["concurrency"] == ("4", "config file")
    assert shown["mode"] == ("mirror", "config file")
    assert shown["timeout"] == ("30.0", "default")
    assert shown["scope"] == ("sheet", "default")
    assert result.exit_code == 4 and "error: Cannot reach 127.0.0.1:9" in result.stderr

    # The environment beats the config file ...
    result = _check(["--config", str(config)], FLOWTRAC_BASE_URL=emu.base_url)
    shown = _settings(result)
    assert shown["base_url"] == (emu.base_url, "environment FLOWTRAC_BASE_URL")
    assert shown["token"] == ("****", "config file")
    assert result.exit_code == 0, result.output
    assert f"OK: logged in to {emu.base_url.split('/')[2]}" in result.stdout

    # ... and the command line beats both.
    result = _check(["--config", str(config), "--base-url", DEAD_URL, "--concurrency", "8",
                     "--mode", "upsert", "--retries", "0"], FLOWTRAC_BASE_URL=emu.base_url)
    shown = _settings(result)
    assert shown["base_url"] == (DEAD_URL, "command line")
    assert shown["concurrency"] == ("8", "command line")
    assert shown["mode"] == ("upsert", "command line")
    assert shown["retries"] == ("0", "command line")
    assert "rate" not in shown and re.search(r"^  rate +\(not set\)$", result.stdout, re.M)
    assert result.exit_code == 4

    # The config file itself may come from the environment.
    result = _check([], FLOWTRAC_CONFIG=str(config), FLOWTRAC_BASE_URL=emu.base_url)
    assert result.exit_code == 0
    assert _settings(result)["concurrency"] == ("4", "config file")
    assert "[environment FLOWTRAC_CONFIG]" in result.stdout


def test_secrets_are_masked_and_a_bad_login_is_exit_4(emulator_thread, tmp_path):
    pin = "pin-cfg-8wq"  # distinctive: "4321" could be part of the emulator's port
    emu = emulator_thread(config=EmulatorConfig(users={DEMO_BADGE: pin}))
    config = _config(tmp_path, f'[flowtrac]\nbase_url = "{emu.base_url}"\n'
                               f'badge = "{DEMO_BADGE}"\npin = "{pin}"\n')
    result = _check(["--config", str(config)])
    assert result.exit_code == 0, result.output
    shown = _settings(result)
    assert shown["pin"] == ("****", "config file")
    assert shown["badge"] == (DEMO_BADGE, "config file")
    assert pin not in result.output

    result = _check(["--config", str(config), "--pin", "0000-wrong-pin"])
    assert result.exit_code == 4
    assert "refused the login" in result.stderr
    assert "0000-wrong-pin" not in result.output and "Traceback" not in result.output
    assert _settings(result)["pin"] == ("****", "command line")

    result = _check([], FLOWTRAC_BASE_URL=emu.base_url, FLOWTRAC_TOKEN="not-a-token-9f3e")
    assert result.exit_code == 4 and "token is not valid" in result.stderr
    assert "not-a-token-9f3e" not in result.output


def test_a_secret_in_a_file_others_can_read_is_warned_about(emulator_thread, tmp_path):
    emu = emulator_thread()
    config = _config(tmp_path, f'base_url = "{emu.base_url}"\ntoken = "{DEMO_TOKEN}"\n',
                     mode=0o644)
    result = _check(["--config", str(config)])
    assert result.exit_code == 0
    assert re.search(r"warning: config file .*nightly.toml holds a token and can be read by "
                     r"other users; run: chmod 600", result.stderr)

    os.chmod(config, 0o600)
    assert "warning" not in _check(["--config", str(config)]).stderr
    # No secret in the file: nothing to warn about, whoever can read it.
    os.chmod(config, 0o644)
    config.write_text(f'base_url = "{emu.base_url}"\n')
    assert "warning" not in _check(["--config", str(config)],
                                   FLOWTRAC_TOKEN=DEMO_TOKEN).stderr


def test_config_mistakes_are_usage_errors(tmp_path):
    result = _check([])
    assert result.exit_code == 2 and "Say which Flowtrac to talk to" in result.stderr
    result = _check(["--config", str(tmp_path / "missing.toml")])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    bad = _config(tmp_path, 'base_url = "http://x"\ncolour = "red"\n')
    result = _check(["--config", str(bad)])
    assert result.exit_code == 2 and "unknown setting(s) colour" in result.stderr


def test_a_nightly_command_runs_from_the_config_file(emulator_thread, seed_dataset, tmp_path):
    """What cron runs: everything from the file, nothing on the line but the files."""
    emu = emulator_thread(dataset=seed_dataset)
    config = _config(tmp_path, f'base_url = "{emu.base_url}"\ntoken = "{DEMO_TOKEN}"\n'
                               'concurrency = 2\nrate = 50\n')
    runner = CliRunner()
    env = {**CLEAN_ENV, "FLOWTRAC_CONFIG": str(config)}
    exported = tmp_path / "lines.xlsx"
    assert runner.invoke(main, ["export", str(exported)], env=env).exit_code == 0
    result = runner.invoke(main, ["apply", str(exported), "--yes", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert '"update": 0' in result.stdout and DEMO_TOKEN not in result.output
