"""What rebuilding one day of a fact reports back (for metadata, logs, tests and the benchmark)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DayBuild:
    day: dt.date
    deleted: int
    inserted: int
    # notification_type -> (fact rows, notifications counted in them)
    per_type: dict[str, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0
    # For a fact without a notification_type column: the day's rows and what they count, and any other figures.
    rows: int | None = None
    counted: int | None = None
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def notifications(self) -> int:
        return self.counted if self.counted is not None else sum(count for _, count in self.per_type.values())

    @property
    def row_count(self) -> int:
        """The day's rows in the fact after the build (all types, not only those rebuilt)."""
        return self.rows if self.rows is not None else sum(rows for rows, _ in self.per_type.values())
