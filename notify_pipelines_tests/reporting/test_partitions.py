"""Partition windows map to London dates, including the 23- and 25-hour days."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from notify_pipelines.orchestration.partitions import daily_partitions, window_days


def hours(window: dg.TimeWindow) -> float:
    # Aware datetimes in one zone subtract as wall-clock times, so compare instants.
    return (window.end.timestamp() - window.start.timestamp()) / 3600


def test_clock_change_partitions_are_23_and_25_hours_and_one_london_date_each():
    spring = daily_partitions.time_window_for_partition_key("2021-03-28")
    autumn = daily_partitions.time_window_for_partition_key("2021-10-31")
    assert (hours(spring), hours(autumn)) == (23, 25)
    assert window_days(spring) == [dt.date(2021, 3, 28)]
    assert window_days(autumn) == [dt.date(2021, 10, 31)]


def test_a_range_window_over_both_clock_changes_gives_each_london_date_once():
    keys = daily_partitions.get_partition_keys_in_range(dg.PartitionKeyRange("2021-03-27", "2021-11-01"))
    window = dg.TimeWindow(
        daily_partitions.time_window_for_partition_key(keys[0]).start,
        daily_partitions.time_window_for_partition_key(keys[-1]).end,
    )
    days = window_days(window)
    assert [d.isoformat() for d in days] == keys


def test_the_first_partition_comes_from_notify_partitions_start(monkeypatch):
    import importlib

    from notify_pipelines.orchestration import partitions

    assert partitions.daily_partitions.get_first_partition_key() == "2016-01-01"
    monkeypatch.setenv("NOTIFY_PARTITIONS_START", "2020-04-01")
    try:
        assert importlib.reload(partitions).daily_partitions.get_first_partition_key() == "2020-04-01"
    finally:
        monkeypatch.delenv("NOTIFY_PARTITIONS_START")
        importlib.reload(partitions)
