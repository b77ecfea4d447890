"""The print run's schedule (orchestration/timetable.py: 20 minutes after the 17:30 deadline, reference §5.3), for
today's London partition. On the clock-change days its time exists once, as on any other day."""

from notify_pipelines.orchestration.night import timetable_schedule
from notify_pipelines.printing.job import collate_letters_for_print

# letters not collated are letters not posted: the schedule runs by default, as every timetable schedule
collate_letters_for_print_schedule = timetable_schedule("collate_letters_for_print_schedule", collate_letters_for_print)

printing_schedules = [collate_letters_for_print_schedule]
