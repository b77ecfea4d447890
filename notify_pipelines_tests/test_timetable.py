"""The README's nightly timetable is the code location's schedules: same names, jobs, times, London time."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
ROW = re.compile(r"^\| (?P<when>[^|]+?) \| `(?P<schedule>\w+)` -> `(?P<job>\w+)` \|")


def _readme_rows() -> dict[str, tuple[str, str]]:
    text = README.read_text()
    table = text.split("## The nightly timetable", 1)[1].split("\n## ", 1)[0]
    return {m["schedule"]: (m["when"], m["job"]) for m in map(ROW.match, table.splitlines()) if m}


def _when(cron: str) -> str:
    minute, hour, *rest = cron.split()
    assert rest == ["*", "*", "*"], f"{cron}: the timetable shows daily and hourly schedules only"
    return f"every hour at :{int(minute):02d}" if hour == "*" else f"{int(hour):02d}:{int(minute):02d}"


def test_the_readme_timetable_lists_every_schedule_with_its_job_and_london_time():
    from notify_pipelines.definitions import defs

    in_code = {
        s.name: (_when(s.cron_schedule), s.job_name, s.execution_timezone) for s in defs.get_repository_def().schedule_defs
    }
    in_readme = _readme_rows()
    assert set(in_readme) == set(in_code), "README's 'The nightly timetable' and the schedules differ"
    for name, (when, job, timezone) in in_code.items():
        assert timezone == "Europe/London", name
        assert in_readme[name] == (when, job), f"{name}: README says {in_readme[name]}, the code {(when, job)}"
