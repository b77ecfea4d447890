"""The print run's schedule: 17:50 London time every day, 20 minutes after the 17:30 deadline (reference §5.3),
for today's London partition. On the clock-change days 17:50 exists once, as on any other day."""

import dagster as dg

from notify_pipelines.core.vocabulary import LONDON, LONDON_TZ
from notify_pipelines.printing.job import collate_letters_for_print


@dg.schedule(
    job=collate_letters_for_print,
    cron_schedule="50 17 * * *",
    execution_timezone=LONDON_TZ,
    default_status=dg.DefaultScheduleStatus.RUNNING,  # letters not collated are letters not posted
)
def collate_letters_for_print_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    day = context.scheduled_execution_time.astimezone(LONDON).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)


printing_schedules = [collate_letters_for_print_schedule]
