"""Notifications over loopback: a run's JSON summary posted to a local webhook receiver,
only on failure by default, retried, never holding a secret, and never changing the run's
exit code when it cannot be delivered."""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

from click.testing import CliRunner
from sheetkit import UNGUESSABLE_PIN

from sync.cli import main
from sync.demo import ROUTING_CSV, SAMPLE_DIR, demo_dataset
from sync.emulator import DEMO_BADGE, DEMO_PIN, EmulatorConfig
from sync.history import History, RunRecord
from sync.notify import notify, payload, send

SECRET_PIN = "pin-notify-4242x"


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def badge_login(emu, pin: str = DEMO_PIN) -> list[str]:
    return ["--base-url", emu.base_url, "--badge", DEMO_BADGE, "--pin", pin]


def sheet_with_a_bad_row(tmp_path: Path) -> Path:
    path = Path(shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path))
    first = path.read_text().splitlines()[1].split(",")
    first[2], first[6] = "9", "lots"
    path.write_text(path.read_text() + ",".join(first) + "\n")
    return path


def a_record(**changes) -> RunRecord:
    values = dict(run_id="abc123", command="apply", started="2026-01-01 02:00:00+00:00",
                  finished="2026-01-01 02:00:05+00:00", who="badge 1", server="https://x/api",
                  file="/data/routing.xlsx", sha256=None, mode="upsert",
                  counts={"updated": 3, "failed": 1}, exit_code=1, duration_s=5.0,
                  report="/data/routing.report.xlsx", journal="/data/routing.journal.jsonl",
                  problems=["row 4 (product A, line 2): failed: HTTP 500"])
    values.update(changes)
    return RunRecord(**values)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_failed_apply_posts_its_summary_to_every_webhook(emulator_thread, webhook,
                                                           tmp_path):
    emu = emulator_thread(EmulatorConfig(users={DEMO_BADGE: UNGUESSABLE_PIN}), demo_dataset())
    first, second = webhook(), webhook()
    history = tmp_path / "h.sqlite3"
    path = sheet_with_a_bad_row(tmp_path)
    applied = run("apply", str(path), "--yes", "--history", str(history),
                  "--notify", first.url, "--notify", second.url,
                  *badge_login(emu, UNGUESSABLE_PIN))
    assert applied.exit_code == 1, applied.stderr

    [record] = History(history).runs()
    assert len(first.posts) == len(second.posts) == 1
    body = first.posts[0]
    assert body == second.posts[0]
    assert body["run_id"] == record.run_id and body["exit_code"] == 1
    assert body["server"] == emu.base_url and body["file"] == str(path)
    assert body["counts"] == {"unchanged": 20, "updated": 4, "created": 2, "invalid": 1}
    assert body["report"] == record.report and Path(body["report"]).is_file()
    assert body["duration_s"] > 0 and "lots" in body["problems"][0]
    assert body["text"].startswith(f"flowtrac-sync apply {path.name} on "
                                   f"{emu.base_url.split('/')[2]}: FAILED (exit 1)")
    assert "4 updated" in body["text"] and record.run_id in body["text"]
    assert UNGUESSABLE_PIN not in json.dumps(body) and "warning" not in applied.stderr


def test_by_default_only_failures_are_told_and_always_tells_every_run(emulator_thread,
                                                                      webhook, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    hook = webhook()
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    done = run("apply", str(path), "--yes", "--notify", hook.url, *badge_login(emu))
    assert done.exit_code == 0 and hook.posts == []
    again = run("apply", str(path), "--yes", "--notify", hook.url, "--notify-on", "always",
                *badge_login(emu))
    assert again.exit_code == 0
    [body] = hook.posts
    assert body["exit_code"] == 0 and body["counts"] == {"unchanged": 26}
    assert ": done" in body["text"].splitlines()[0]


def test_a_run_that_cannot_log_in_is_told_without_its_pin(emulator_thread, webhook,
                                                          tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    hook = webhook()
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    refused = run("apply", str(path), "--yes", "--notify", hook.url,
                  *badge_login(emu, pin=SECRET_PIN))
    assert refused.exit_code == 4
    [body] = hook.posts
    assert body["exit_code"] == 4 and body["problems"]
    assert SECRET_PIN not in json.dumps(body) and SECRET_PIN not in refused.output


def test_a_webhook_that_fails_for_a_moment_is_asked_again(webhook):
    hook = webhook(statuses=[500, 429, 200])
    assert notify([hook.url], a_record(), backoff_s=0.05) == []
    assert len(hook.posts) == 3
    refusing = webhook(statuses=[404])
    [warning] = notify([refusing.url], a_record(), backoff_s=0.05)
    assert len(refusing.posts) == 1        # a refusal is not asked again
    assert warning == ("the notification to http://127.0.0.1 could not be delivered "
                       "(HTTP 404); the run's exit code is not affected")


async def test_a_webhook_that_does_not_answer_in_time_is_given_up(webhook):
    hook = webhook(delay_s=5)
    began = time.monotonic()
    [warning] = await send([hook.url], a_record(), timeout_s=0.3, retries=1, backoff_s=0.05)
    assert time.monotonic() - began < 3
    assert "(no answer in time)" in warning and "secret-path" not in warning
    assert len(hook.posts) == 2


def test_an_undeliverable_notification_is_a_warning_and_the_exit_code_stands(
        emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    down = f"http://127.0.0.1:{closed_port()}/hooks/T000/secret-path"
    path = sheet_with_a_bad_row(tmp_path)
    applied = run("apply", str(path), "--yes", "--notify", down, *badge_login(emu))
    assert applied.exit_code == 1
    warnings = [line for line in applied.stderr.splitlines() if "notification" in line]
    assert warnings == ["warning: the notification to http://127.0.0.1 could not be "
                        "delivered (ClientConnectorError); the run's exit code is not "
                        "affected"]
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path / "ok.csv")
    fine = run("apply", str(path), "--yes", "--notify", down, "--notify-on", "always",
               *badge_login(emu))
    assert fine.exit_code == 0 and "could not be delivered" in fine.stderr


def test_the_config_file_names_the_webhooks_and_config_check_hides_their_path(
        emulator_thread, webhook, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    hook = webhook()
    config = tmp_path / "flowtrac.toml"
    config.write_text(f'base_url = "{emu.base_url}"\nbadge = "{DEMO_BADGE}"\n'
                      f'notify = ["{hook.url}"]\nnotify_on = "always"\n')
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    applied = run("apply", str(path), "--yes", "--config", str(config), "--pin", DEMO_PIN)
    assert applied.exit_code == 0, applied.stderr
    assert [b["counts"]["updated"] for b in hook.posts] == [4]
    checked = run("config", "check", "--config", str(config), "--pin", DEMO_PIN)
    assert "secret-path" not in checked.output and "http://127.0.0.1/****" in checked.output


def test_a_webhook_that_is_not_a_web_address_is_refused_before_anything_is_sent(
        emulator_thread, tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    refused = run("apply", str(path), "--yes", "--notify", "hooks.slack.com/x",
                  *badge_login(emu))
    assert refused.exit_code == 2 and emu.store.write_count == 0
    assert refused.stderr.startswith("error: --notify must be an http:// or https:// address")


def test_the_summary_holds_what_a_chat_shows_and_nothing_secret():
    body = payload(a_record(problems=[f"problem {n}" for n in range(8)]))
    assert body["text"].splitlines() == [
        "flowtrac-sync apply routing.xlsx on x: FAILED (exit 1) - 3 updated, 1 failed",
        *(f"- problem {n}" for n in range(5)),
        "report: /data/routing.report.xlsx", "run: abc123"]
    assert set(body) >= {"server", "file", "counts", "exit_code", "duration_s", "problems",
                         "report", "run_id", "text"}


def test_an_undo_is_told_too_and_one_that_cannot_start_is_a_failure(emulator_thread, webhook,
                                                                    tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    hook = webhook()
    history = tmp_path / "h.sqlite3"
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    assert run("apply", str(path), "--yes", "--history", str(history),
               *badge_login(emu)).exit_code == 0
    [applied] = History(history).runs()
    undone = run("undo", "--run", applied.run_id, "--yes", "--history", str(history),
                 "--notify", hook.url, "--notify-on", "always", *badge_login(emu))
    assert undone.exit_code == 0, undone.stderr
    [body] = hook.posts
    assert body["command"] == "undo" and body["file"] == applied.journal
    assert body["exit_code"] == 0 and sum(body["counts"].values()) == 6
    assert body["text"].startswith(f"flowtrac-sync undo {Path(applied.journal).name} on ")

    missing = run("undo", str(tmp_path / "no.journal.jsonl"), "--yes", "--history",
                  str(history), "--notify", hook.url, *badge_login(emu))
    assert missing.exit_code == 2
    assert hook.posts[-1]["command"] == "undo" and hook.posts[-1]["exit_code"] == 2
    assert [r.command for r in History(history).runs()] == ["apply", "undo", "undo"]


def test_a_config_that_says_when_to_notify_in_other_words_is_refused(emulator_thread,
                                                                     tmp_path):
    emu = emulator_thread(dataset=demo_dataset())
    config = tmp_path / "flowtrac.toml"
    config.write_text('notify = "https://hooks.example/x"\nnotify_on = "sometimes"\n')
    path = shutil.copy(SAMPLE_DIR / ROUTING_CSV, tmp_path)
    refused = run("apply", str(path), "--yes", "--config", str(config), *badge_login(emu))
    assert refused.exit_code == 2 and emu.store.write_count == 0
    assert refused.stderr == ("error: notify_on must be 'failure' or 'always', got "
                              "'sometimes' (nothing sent)\n")
