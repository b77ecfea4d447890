"""The matrix's invariants, one function each, used by every cell. A job case observes its state as an Observation;
the invariants judge observations and the run's outcome, whatever the job."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Observation:
    """What a job's data looks like now, against what its seeding says a finished night looks like."""
    lost: list[str] = field(default_factory=list)  # things that must exist and do not (a row in neither table...)
    doubled: list[str] = field(default_factory=list)  # things in two places (both tables, two print files...)
    undone: list[str] = field(default_factory=list)  # work a finished night would have done and this did not


@dataclass
class Outcome:
    red: bool  # the run (job or process) ended failed
    error: str = ""  # its error's first line, for the report


def _some(items: list[str]) -> str:
    return f"{len(items)}: {items[:5]}"


def assert_nothing_lost(observed: Observation) -> None:
    assert not observed.lost, f"lost {_some(observed.lost)}"


def assert_nothing_doubled(observed: Observation) -> None:
    assert not observed.doubled, f"doubled {_some(observed.doubled)}"


def assert_red_while_undone(outcome: Outcome, observed: Observation) -> None:
    """A run that left work undone must not look finished."""
    assert outcome.red or not observed.undone, f"the run was green with work undone {_some(observed.undone)}"


def assert_settled(outcome: Outcome, observed: Observation) -> None:
    """After a clean re-run: green, and the night exactly finished."""
    assert not outcome.red, f"the clean re-run failed: {outcome.error}"
    assert_nothing_lost(observed)
    assert_nothing_doubled(observed)
    assert not observed.undone, f"the clean re-run left undone {_some(observed.undone)}"
