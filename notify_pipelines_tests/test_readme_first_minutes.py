"""Every shell command of the README's "Your first ten minutes", run as written against a fresh `notify-pipelines dev`
stack, from a stand-in for the repository root, in a terminal with nothing set: so the README cannot drift again.

Each command must exit 0, and do what the README says: the backfill's run succeeds, the message is sent and read
back, the sensor's verdict is a failure naming the planted letter. The stack gets its own ports and databases (the
commands find them in the .env it writes, as they would the defaults).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from notify_pipelines.db import migrate
from notify_pipelines.db.engine import get_engine
from notify_pipelines.tooling import seed
from notify_pipelines_tests.conftest import create_database, drop_database
from notify_pipelines_tests.dev_stack import REPO, clean_env, stand_in_root, start_dev_stack

SECTION = "## Your first ten minutes"
SENSOR = "letters_pending_virus_check"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def first_minutes_commands(readme: str) -> list[str]:
    """The section's indented code lines (a code block: indented 4 or more spaces after a blank line), in order."""
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands, in_block, previous_blank = [], False, True
    for line in section.splitlines():
        indented = len(line) - len(line.lstrip(" ")) >= 4 and line.strip()
        # A list item's text continues at 3 spaces; a code block inside an item starts at 7 after a blank line.
        in_block = bool(indented) and (in_block or previous_blank)
        if in_block:
            commands.append(line.strip())
        previous_blank = not line.strip()
    return commands


def test_the_section_has_the_commands_the_steps_name():
    commands = first_minutes_commands((REPO / "README.md").read_text())
    assert commands == [
        "set -a; . ./.env; set +a",
        ".venv/bin/dg launch --assets ft_billing --partition-range $(date -d '7 days ago' +%F)...$(date -d '2 days ago' +%F)",
        ".venv/bin/python examples/first_message.py",
        ".venv/bin/python examples/stuck_letter.py",
        f".venv/bin/notify-pipelines sensor-verdict {SENSOR}",
    ]


@pytest.mark.timeout(600)
def test_every_first_minutes_command_works_against_a_fresh_dev_stack(tmp_path):
    commands = first_minutes_commands((REPO / "README.md").read_text())
    root = stand_in_root(tmp_path / "repo", ("pyproject.toml", "dagster.yaml", "workspace.yaml", "notify_pipelines",
                                             "examples"))
    notify_url = create_database("notify_readme")
    migrate.upgrade(notify_url)
    # The demo window as `dev` seeds it (the last 30 London days), smaller: the commands need the days, not volume.
    seed.generate(get_engine(notify_url), days=30, per_day=60, services=2, seed=1)
    stack = start_dev_stack(tmp_path, notify_url, root / ".env")
    try:
        # The sensor watches letters that reached 10 minutes old since its previous tick; its first tick comes right
        # after start, the next 10 minutes later: after the first, the planted letter is the next one's to report.
        deadline = time.monotonic() + 180
        while f"Sensor {SENSOR} skipped" not in stack.log():  # the daemon's log of the tick, in dev's output
            assert time.monotonic() < deadline, f"{SENSOR} did not tick in 180 s:\n{stack.log()[-3000:]}"
            time.sleep(2)
        time.sleep(6)  # stuck_letter.py backdates by 10 min 5 s: plant after the tick's watermark

        outputs = {}
        for command in commands:
            done = subprocess.run(["bash", "-c", command], cwd=root, env=clean_env(), capture_output=True, text=True,
                                  timeout=300, check=False)
            assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            outputs[command] = done.stdout + done.stderr
            for warning in ("BetaWarning", "PreviewWarning", "Traceback"):
                assert warning not in outputs[command], f"{command}:\n{outputs[command][-3000:]}"
        backfill, first_message, stuck_letter, preview = commands[1:]

        engine = sa.create_engine(stack.dagster_db_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT status, run_body FROM runs WHERE pipeline_name = '__ASSET_JOB'")).all()
        engine.dispose()
        today = dt.date.today()
        assert [status for status, _ in runs] == ["SUCCESS"], runs
        assert f'"{today - dt.timedelta(days=7)}"' in runs[0].run_body and f'"{today - dt.timedelta(days=2)}"' in runs[0].run_body

        sent = re.search(rf"sent SMS ({UUID})", outputs[first_message])
        assert sent and f"read it back: status created" in outputs[first_message], outputs[first_message]
        with get_engine(notify_url).connect() as conn:
            row = conn.execute(sa.text("SELECT notification_type, \"to\", notification_status FROM notifications WHERE id = :id"),
                               {"id": sent.group(1)}).one()
        assert tuple(row) == ("sms", "07700900123", "created")

        planted = re.search(rf"planted precompiled letter ({UUID}) \(reference (\w+)\)", outputs[stuck_letter])
        assert planted, outputs[stuck_letter]
        verdict = outputs[preview]
        assert verdict.startswith(f"{SENSOR} failed: 1 precompiled letter(s) have been in pending-virus-check"), verdict
        assert f"id {planted.group(1)}, reference {planted.group(2)}" in verdict
        assert "their upload is not in the scan bucket" in verdict
    finally:
        assert stack.stop() == 0, stack.log()[-3000:]
        drop_database(notify_url)
        drop_database(stack.dagster_db_url)
