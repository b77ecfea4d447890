"""Partition keys refused before any op does anything: a key that is not one of its job's partitions (not a London
day or month, before the partitions' start, after today's open partition) fails the run at once, in one line naming
the key and the valid range.

Dagster itself checks keys only when `dagster asset materialize` / `dg launch` select assets, and then with a long
traceback; an op job's run starts anyway and fails inside its ops (`2026-13-45`) or works on a day outside the
partitions (`2010-01-01`). So the check runs in NotifyDatabase.setup_for_execution, which every op and asset of a
partitioned job requires: each process that runs a step checks the run's tags before the step's body runs.
`refuse_in_one_line` shortens Dagster's own refusal in the CLI process to the same line.

The code location hands its Definitions over with `use_code_location` (orchestration does not import it): runs of
jobs it does not hold, as tests build them, are not checked.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import dagster as dg

PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
KEY_SHAPES = {"%Y-%m-%d": "London day YYYY-MM-DD", "%Y-%m": "London month YYYY-MM", "%Y": "financial year YYYY"}


_code_location: dg.Definitions | None = None


def use_code_location(defs: dg.Definitions) -> None:
    """Check runs against these Definitions' jobs and assets (definitions.py calls it once it has built them)."""
    global _code_location
    _code_location = defs


class PartitionKeyRefused(Exception):
    """A run's partition key is not one of its partitions."""


def refusal(key: str, partitions_def: dg.PartitionsDefinition, what: str) -> str | None:
    """None if `key` is a partition of `partitions_def` (today's open one included), else the one-line reason."""
    if partitions_def.has_partition_key(key):
        return None
    shape = KEY_SHAPES.get(getattr(partitions_def, "fmt", ""), "partition key")
    first, last = partitions_def.get_first_partition_key(), partitions_def.get_last_partition_key()
    return f"partition {key!r} of {what} is not a {shape} from {first} to {last}"


def _partitions_def_of(job_name: str, asset_keys) -> dg.PartitionsDefinition | None:
    defs = _code_location
    if defs is None:
        return None
    try:
        if asset_keys:
            found = {defs.resolve_assets_def(key).partitions_def for key in asset_keys} - {None}
            return found.pop() if len(found) == 1 else None
        return defs.resolve_job_def(job_name).partitions_def
    except (dg.DagsterInvariantViolationError, dg.DagsterInvalidDefinitionError, KeyError, ValueError):
        return None


def check_run(run: dg.DagsterRun | None) -> None:
    """Raise PartitionKeyRefused if the run's partition key (or either end of its range) is not a partition of its
    job or assets."""
    if run is None:
        return
    keys = [run.tags[t] for t in (PARTITION_TAG, *RANGE_TAGS) if t in run.tags]
    if not keys:
        return
    partitions_def = _partitions_def_of(run.job_name, run.asset_selection)
    if partitions_def is None:
        return
    what = ", ".join(k.to_user_string() for k in sorted(run.asset_selection)) if run.asset_selection else run.job_name
    for key in keys:
        if reason := refusal(key, partitions_def, what):
            raise PartitionKeyRefused(reason)


# ---- The CLI process ----------------------------------------------------------------------------------------------


def keys_in_argv(argv: list[str]) -> list[str]:
    """The partition keys a `dagster`/`dg` command line names: --partition K, --partition-range A...B, or --tags with
    dagster/partition."""
    keys = []
    for flag, value in zip(argv, argv[1:]):
        if flag == "--partition":
            keys.append(value)
        elif flag == "--partition-range":
            keys.extend(value.split("...", 1))
        elif flag == "--tags":
            try:
                tags = json.loads(value)
            except ValueError:
                continue
            if isinstance(tags, dict) and isinstance(tags.get(PARTITION_TAG), str):
                keys.append(tags[PARTITION_TAG])
    return keys


def _argv_refusal(argv: list[str]) -> str | None:
    """The refusal of the first key on the command line that is none of the project's partitions' keys."""
    defs = _code_location
    if defs is None:
        return None
    partitions_defs = {a.partitions_def for a in defs.resolve_asset_graph().assets_defs}
    partitions_defs |= {j.partitions_def for j in defs.resolve_all_job_defs()}
    known = [p for p in partitions_defs if isinstance(p, dg.TimeWindowPartitionsDefinition)]
    for key in keys_in_argv(argv):
        if known and not any(p.has_partition_key(key) for p in known):
            # Judged against the partitions whose shape the key has (a day, a month), else the daily ones.
            shaped = [p for p in known if _has_shape(key, p.fmt)] or sorted(known, key=lambda p: -len(p.fmt))
            return refusal(key, shaped[0], "this command")
    return None


def _has_shape(key: str, fmt: str) -> bool:
    try:
        dt.datetime.strptime(key, fmt)
    except ValueError:
        return False
    return True


def refuse_in_one_line() -> None:
    """In a `dagster`/`dg` process, print an uncaught error as one line when the command's partition key is what is
    wrong (Dagster refuses such keys itself, before any run exists, with a traceback of some 60 lines)."""
    previous = sys.excepthook

    def hook(kind, error, traceback):
        try:
            reason = _argv_refusal(sys.argv)
        except Exception:  # noqa: BLE001 - never hide the real error behind one of ours
            reason = None
        if reason is None:
            previous(kind, error, traceback)
        else:
            print(f"notify-pipelines: {reason}", file=sys.stderr)

    sys.excepthook = hook
