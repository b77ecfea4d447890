"""The run's summary: totals per type and one table row per (service, type) touched; and the failure a step
raises when S3 trouble left letters past retention in `notifications`."""

from __future__ import annotations

import dagster as dg

from notify_pipelines.core.vocabulary import LETTER, NOTIFICATION_TYPES

COUNTS = ("archived", "already_in_history", "test_deleted", "pdfs_deleted", "pdfs_missing", "pdf_errors")
TABLE_LIMIT = 500  # the metadata table lists the busiest services; the totals count them all


def summarise(outcomes: list[dict]) -> tuple[dict, dict]:
    """(summary, Dagster metadata) from every TypeOutcome.as_dict() of the run."""
    totals = {t: {c: 0 for c in COUNTS} for t in NOTIFICATION_TYPES}
    for outcome in outcomes:
        for count in COUNTS:
            totals[outcome["notification_type"]][count] += outcome[count]
    touched = sorted((o for o in outcomes if o["archived"] or o["test_deleted"]),
                     key=lambda o: (-(o["archived"] + o["test_deleted"]), o["service_id"], o["notification_type"]))
    summary = {"totals": totals, "services_with_work": len({o["service_id"] for o in outcomes}),
               "services_touched": len({o["service_id"] for o in touched})}
    metadata: dict = {f"{t} {c}": totals[t][c] for t in NOTIFICATION_TYPES for c in ("archived", "test_deleted")}
    metadata["letter pdfs_deleted"] = totals[LETTER]["pdfs_deleted"]
    metadata["letter pdfs_missing"] = totals[LETTER]["pdfs_missing"]
    metadata["services_with_work"] = summary["services_with_work"]
    metadata["services_touched"] = summary["services_touched"]
    metadata["services"] = dg.MetadataValue.md(_table(touched[:TABLE_LIMIT], len(touched)))
    return summary, metadata


def _table(rows: list[dict], total: int) -> str:
    lines = ["| service | type | archived | test deleted | PDFs deleted | seconds |", "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {o['service_id']} | {o['notification_type']} | {o['archived']} | {o['test_deleted']} | "
              f"{o['pdfs_deleted']} | {o['seconds']:.2f} |" for o in rows]
    if total > len(rows):
        lines.append(f"\n({total - len(rows)} more not shown)")
    return "\n".join(lines) if rows else "No service had anything past retention."


def letters_left_failure(outcomes: list[dict]) -> dg.Failure | None:
    """A step whose letters' PDFs could not all be deleted must fail, so the run is red and alerts; the letters stay
    in `notifications` and the next run (or a re-execution of this step) tries them again."""
    left = [o for o in outcomes if o.get("letters_left")]
    if not left:
        return None
    total = sum(o["letters_left"] for o in left)
    lines = [f"service {o['service_id']}: {o['letters_left']} letters left ({o['pdf_errors']} PDF deletions failed:"
             f" {o['s3_error']})" for o in left[:TABLE_LIMIT]]
    return dg.Failure(
        description=f"{total} letters past retention were left in notifications because their PDFs could not be "
        f"deleted from S3 (first error: {left[0]['s3_error']}). They are retried by the next run.\n" + "\n".join(lines),
        metadata={
            "letters_left": total,
            "pdf_errors": sum(o["pdf_errors"] for o in left),
            "first_s3_error": left[0]["s3_error"],
            "archived": sum(o["archived"] for o in outcomes),
            "test_deleted": sum(o["test_deleted"] for o in outcomes),
            "pdfs_deleted": sum(o["pdfs_deleted"] for o in outcomes),
        },
    )
