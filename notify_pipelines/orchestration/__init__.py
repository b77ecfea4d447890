"""The Dagster glue the domains share: resources, partitions, run limits, executors, retries, the one timetable of
the night (timetable.py) and what starts its slots in order (night.py), and the one adapter for Dagster internals.
Imports core and db only."""
