"""The `notify-pipelines` command: db, seed, api, worker, sensor-verdict and dev. Errors print as one line and exit non-zero."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

import alembic.util.exc
import sqlalchemy.exc

from notify_pipelines.db.migrate import DowngradeWouldDropData
from notify_pipelines.core.settings import ConfigError, database_url


class OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one line (no usage block): `notify-pipelines api: argument --port: ...`."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def port(text: str) -> int:
    value = _integer(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port: give 1 to 65535")
    return value


def count(minimum: int, maximum: int):
    """An argparse type: a whole number in [minimum, maximum]."""

    def parse(text: str) -> int:
        value = _integer(text)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value:,} is out of range: give {minimum:,} to {maximum:,}")
        return value

    return parse


def iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: give YYYY-MM-DD") from None


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def _cmd_db(args: argparse.Namespace) -> None:
    from notify_pipelines.db import migrate

    url = database_url()
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
    elif args.action == "check":
        migrate.check(url)
        print("notify-pipelines: the database matches notify_pipelines/db/schema.py")
    else:
        migrate.downgrade(url, args.revision or "base", allow_data_loss=args.yes)


def _cmd_seed(args: argparse.Namespace) -> None:
    from notify_pipelines.tooling import seed

    seed.run_from_cli(args)


def _cmd_api(args: argparse.Namespace) -> None:
    from notify_pipelines.api.server import serve

    serve(host=args.host, port=args.port, workers=args.workers)


def _cmd_worker(args: argparse.Namespace) -> None:
    from notify_pipelines.tooling.worker import run_worker

    run_worker(args.concurrency, args.queue, args.loglevel)


def _cmd_sensor_verdict(args: argparse.Namespace) -> None:
    from notify_pipelines.tooling.dev import load_dotenv
    from notify_pipelines.tooling.sensor_verdict import verdict

    load_dotenv()  # as the dagster and dg commands do: a running stack's settings from ./.env
    print(verdict(args.sensor))


def _cmd_dev(args: argparse.Namespace) -> None:
    from notify_pipelines.tooling import dev

    dev.run(args)


# Bounds that keep a mistyped number from running for days or overflowing: a century of days, 100M rows a day
# (PostgreSQL's int4 row numbers stop at 2.1 billion), and more services, workers and processes than any use here.
MAX_SEED_DAYS = 36_525
MAX_SEED_PER_DAY = 100_000_000
MAX_SEED_SERVICES = 10_000
MAX_SEED = 2**31 - 1
MAX_API_WORKERS = 256
MAX_WORKER_CONCURRENCY = 256


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="notify-pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser(
        "db",
        help="create or migrate the schema in NOTIFY_DATABASE_URL (Alembic); check compares it with db/schema.py",
    )
    db.add_argument("action", choices=["upgrade", "downgrade", "check"])
    db.add_argument("revision", nargs="?", default=None, help="target revision (default: head / base)")
    db.add_argument(
        "--yes", action="store_true",
        help="downgrade even though a table or column it drops holds rows (refused without it, naming them)"
    )
    db.set_defaults(func=_cmd_db)

    from notify_pipelines.tooling.seed import DISTRIBUTIONS_HELP

    seed = commands.add_parser(
        "seed",
        help="generate realistic synthetic data inside PostgreSQL, deterministic for a seed",
        description=DISTRIBUTIONS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    seed.add_argument("--days", type=count(1, MAX_SEED_DAYS), default=30,
                      help=f"number of London days to generate (default 30, at most {MAX_SEED_DAYS:,})")
    seed.add_argument("--per-day", type=count(1, MAX_SEED_PER_DAY), default=20_000,
                      help=f"notifications per day (default 20,000, at most {MAX_SEED_PER_DAY:,})")
    seed.add_argument("--services", type=count(1, MAX_SEED_SERVICES), default=20,
                      help=f"number of services (default 20, at most {MAX_SEED_SERVICES:,})")
    seed.add_argument("--seed", type=count(0, MAX_SEED), default=1,
                      help="random seed; the same seed gives the same rows")
    seed.add_argument(
        "--start",
        type=iso_date,
        default=None,
        help="first day YYYY-MM-DD (default: so that the last day is yesterday, London time)",
    )
    seed.add_argument("--no-progress", action="store_true", help="no progress bar")
    existing = seed.add_mutually_exclusive_group()
    existing.add_argument(
        "--reset", action="store_true",
        help="empty every data table first (lookups stay); refused while they hold rows unless --yes is given too")
    existing.add_argument(
        "--append", action="store_true", help="add to a database that holds data (use a seed not loaded yet)"
    )
    seed.add_argument("--yes", action="store_true", help="with --reset: empty the tables even though they hold rows")
    seed.set_defaults(func=_cmd_seed)

    api = commands.add_parser("api", help="serve the thin API (OpenAPI at /openapi.json)")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=port, default=6011)
    api.add_argument("--workers", type=count(1, MAX_API_WORKERS), default=1)
    api.set_defaults(func=_cmd_api)

    worker = commands.add_parser(
        "worker",
        help="a Celery worker running nightly_retention's steps (NOTIFY_CELERY_BROKER_URL; same settings as the runs)",
    )
    worker.add_argument("--concurrency", type=count(1, MAX_WORKER_CONCURRENCY), default=2,
                        help="step processes in this worker (default 2)")
    worker.add_argument("--queue", default="dagster", help="Celery queue to read (default dagster, dagster-celery's)")
    worker.add_argument("--loglevel", default="INFO", help="Celery log level (default INFO)")
    worker.set_defaults(func=_cmd_worker)

    sensor_verdict = commands.add_parser(
        "sensor-verdict",
        help="evaluate one sensor now on the stack's instance and print what it skipped or why it failed "
             "(the settings from ./.env when `dev` runs)",
    )
    sensor_verdict.add_argument("sensor", help="the sensor's name, e.g. letters_pending_virus_check")
    sensor_verdict.set_defaults(func=_cmd_sensor_verdict)

    dev = commands.add_parser(
        "dev",
        help="the whole stack on this machine: database, migrations, demo data, local S3, the API and the Dagster UI",
    )
    dev.add_argument("--ui-port", type=port, default=3000, help="Dagster web UI port (default 3000)")
    dev.add_argument("--api-port", type=port, default=6011, help="API port (default 6011)")
    dev.add_argument(
        "--s3-port", type=port, default=5000, help="local S3 port if NOTIFY_S3_ENDPOINT_URL is unset (default 5000)"
    )
    dev.add_argument(
        "--db-port", type=port, default=54320, help="embedded PostgreSQL port if NOTIFY_DATABASE_URL is unset (54320)"
    )
    dev.add_argument(
        "--env-file", default=None,
        help="where to write the stack's settings for dagster/dg commands in another terminal (default .env at the "
             "repository root, which they load; removed on exit)",
    )
    dev.set_defaults(func=_cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (ConfigError, DowngradeWouldDropData) as exc:
        print(f"notify-pipelines: {exc}", file=sys.stderr)
        return 2
    except sqlalchemy.exc.ArgumentError as exc:
        print(f"notify-pipelines: NOTIFY_DATABASE_URL is not a valid database URL: {exc}", file=sys.stderr)
        return 2
    except sqlalchemy.exc.OperationalError as exc:
        first_line = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
        print(f"notify-pipelines: cannot use the database in NOTIFY_DATABASE_URL: {first_line}", file=sys.stderr)
        return 2
    except alembic.util.exc.CommandError as exc:  # an unknown revision, or `db check` finding a difference
        print(f"notify-pipelines: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
