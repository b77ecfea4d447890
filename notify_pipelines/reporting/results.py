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

    @property
    def notifications(self) -> int:
        return sum(count for _, count in self.per_type.values())
