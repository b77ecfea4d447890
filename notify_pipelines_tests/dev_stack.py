"""The real `notify-pipelines dev` stack in a test: free ports, its own databases, started and stopped as a user would
(SIGTERM), and a stand-in for the repository root (symlinks) so that a developer's own `.env` is never touched."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from notify_pipelines_tests.conftest import ADMIN_URL, drop_database

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STARTUP_SECONDS = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, body: dict | None = None) -> dict | None:
    """GET (POST with a JSON body) and the decoded answer; None while nothing answers."""
    data = json.dumps(body).encode() if body else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=3) as response:
            return json.loads(response.read())
    except OSError:
        return None


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def stand_in_root(where: Path, names: tuple[str, ...]) -> Path:
    """A directory whose `names` are symlinks to the repository's: commands run there as from the root. `.venv` is
    the running interpreter's environment, so `.venv/bin/...` commands use this checkout's installed package."""
    where.mkdir()
    for name in names:
        (where / name).symlink_to(REPO / name)
    (where / ".venv").symlink_to(BIN.parent)
    return where


def clean_env() -> dict:
    """A new terminal with nothing sourced: PATH (with the venv's commands) and HOME only."""
    return {"PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}


@dataclass
class DevStack:
    process: subprocess.Popen
    log_path: Path
    env_file: Path
    ui_port: int
    api_port: int
    s3_port: int
    dagster_db_url: str

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> int:
        """SIGTERM, as Ctrl-C would; dev stops everything it started. Its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


def start_dev_stack(tmp_path: Path, notify_url: str, env_file: Path) -> DevStack:
    """`notify-pipelines dev` on a migrated `notify_url`, its own ports, Dagster home and Dagster database, writing its
    settings to `env_file`; returns once the UI answers (the caller stops it, then calls drop_dagster_database)."""
    dagster_db = f"dagster_dev_{os.getpid()}_{time.time_ns()}"
    ui, api, s3 = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_S3_ENDPOINT_URL", "NOTIFY_ADMIN_TOKEN", "NOTIFY_API_URL", "NOTIFY_UI_BASE_URL")}
    env.update(NOTIFY_DATABASE_URL=notify_url, DAGSTER_HOME=str(tmp_path / "dagster_home"), DAGSTER_PG_DB=dagster_db)
    log_path = tmp_path / "dev.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "notify_pipelines.tooling.cli", "dev", "--ui-port", str(ui), "--api-port", str(api),
             "--s3-port", str(s3), "--env-file", str(env_file)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    stack = DevStack(process, log_path, env_file, ui, api, s3,
                     sa.make_url(ADMIN_URL).set(database=dagster_db).render_as_string(hide_password=False))
    deadline = time.monotonic() + STARTUP_SECONDS
    try:
        while get_json(f"http://127.0.0.1:{ui}/server_info") is None:
            assert process.poll() is None, stack.log()[-3000:]
            assert time.monotonic() < deadline, f"the UI did not answer in {STARTUP_SECONDS} s"
            time.sleep(1)
    except BaseException:
        stack.stop()
        drop_database(stack.dagster_db_url)
        raise
    return stack
