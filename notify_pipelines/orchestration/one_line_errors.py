"""When a `dagster` or `dg` command cannot work for want of a setting (typically: the stack is not running, so there is
no ./.env), one readable line instead of Dagster's traceback.

Dagster resolves the resources' EnvVars when it builds a run, after the code location has loaded, and leaves the
failure to Python, which prints some 80 lines of traceback around the one that matters. The hook installed here (by
the code location, in a `dagster` or `dg` process) replaces exactly those failures (an unset variable, a ConfigError
from core/settings.py) with one line on stderr and leaves every other error as Python prints it. The exit status
stays 1.
"""

from __future__ import annotations

import re
import sys

import dagster as dg

from notify_pipelines.core.settings import ConfigError

UNSET_VARIABLE = re.compile(r'environment variable "([A-Za-z0-9_]+)" which is not set')
START_THE_STACK = ("start the stack with `notify-pipelines dev` (it writes ./.env, which dagster and dg load when run "
                   "from the repository root) or set it yourself")


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def one_line(exc: BaseException) -> str | None:
    """The readable line for a failure this project understands, else None."""
    for cause in _chain(exc):
        if isinstance(cause, ConfigError):
            return str(cause)
        if isinstance(cause, dg.DagsterInvalidConfigError):
            names = sorted(set(UNSET_VARIABLE.findall(str(cause))))
            if names:
                return f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} not set: {START_THE_STACK}"
    return None


def install_one_line_errors() -> None:
    previous = sys.excepthook
    if getattr(previous, "one_line_errors", False):
        return

    def hook(kind, exc, traceback):
        line = one_line(exc)
        if line is None:
            previous(kind, exc, traceback)
        else:
            print(f"notify-pipelines: {line}", file=sys.stderr)

    hook.one_line_errors = True
    sys.excepthook = hook
