"""The code location's names, as operators, the README, schedules' run history and alert rules know them.

A snapshot written out by hand: adding, renaming or removing an asset, check, job, schedule or sensor fails this test
until the list below is changed too, so a rename is always deliberate (and goes with the README and contract.md).
"""

from __future__ import annotations

ASSETS = [
    "annual_billing", "ft_billing", "ft_billing_letter_despatch", "ft_monthly_usage", "ft_notification_status",
    "ft_processing_time", "letter_print_volumes", "letter_rates", "notification_history", "notifications",
    "notifications_letter_despatch", "rates", "timed_out_notifications",
]
ASSET_CHECKS = [
    "ft_billing:ft_billing_matches_status_facts",
    "ft_billing:volume_within_weekday_range",
    "ft_billing:yesterday_built_by_deadline",
    "ft_billing_letter_despatch:ft_billing_letter_despatch_matches_source",
    "ft_billing_letter_despatch:volume_within_weekday_range",
    "ft_billing_letter_despatch:yesterday_built_by_deadline",
    "ft_monthly_usage:ft_monthly_usage_matches_billing",
    "ft_notification_status:ft_notification_status_counts_match_source",
    "ft_notification_status:ft_notification_status_has_no_test_keys",
    "ft_notification_status:volume_within_weekday_range",
    "ft_notification_status:yesterday_built_by_deadline",
    "ft_processing_time:ft_processing_time_matches_source",
    "ft_processing_time:volume_within_weekday_range",
    "ft_processing_time:yesterday_built_by_deadline",
    "notifications:received_rows_recently",
]
JOBS = [
    "collate_letters_for_print", "deep_archive_notification_history", "delete_inbound_sms", "delete_old_runs",
    "ft_billing_job", "ft_billing_letter_despatch_job", "ft_monthly_usage_job", "ft_notification_status_job",
    "ft_processing_time_job", "nightly_retention", "populate_annual_billing", "recreate_precompiled_letter_pdf",
    "remove_old_job_files", "timeout_sending_notifications",
]
SCHEDULES = [
    "collate_letters_for_print_schedule", "deep_archive_notification_history_schedule", "delete_inbound_sms_schedule",
    "delete_old_runs_schedule", "hourly_ft_billing_today",
    "nightly_ft_billing", "nightly_ft_billing_letter_despatch", "nightly_ft_processing_time",
    "populate_annual_billing_schedule", "remove_old_job_files_schedule", "timeout_sending_notifications_schedule",
]
SENSORS = [
    "alert_forwarder", "high_failure_rates", "jobs_with_missing_rows", "letters_in_technical_failure",
    "letters_pending_virus_check", "letters_pending_virus_check_nightly", "letters_still_in_created",
    "letters_still_sending", "low_inbound_numbers", "missed_nights", "night_plan", "notifications_stuck_in_created",
    "print_files_not_acknowledged", "replay_created_notifications", "reporting_freshness", "slow_sms_providers",
    "source_freshness", "stuck_jobs",
]


def test_the_code_locations_names_are_exactly_the_snapshot():
    from notify_pipelines.definitions import defs

    repository = defs.get_repository_def()
    graph = repository.asset_graph
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == ASSETS
    assert sorted(f"{c.asset_key.to_user_string()}:{c.name}" for c in graph.asset_check_keys) == ASSET_CHECKS
    assert sorted(j.name for j in repository.get_all_jobs() if not j.name.startswith("__")) == JOBS
    assert sorted(s.name for s in repository.schedule_defs) == SCHEDULES
    assert sorted(s.name for s in repository.sensor_defs) == SENSORS
