"""The Dagster glue the domains share (resources, partitions, run limits, executors, the one adapter for Dagster internals): imports core and db only."""
