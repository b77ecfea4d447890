"""Each active service's free SMS allowance for a financial year (reference §1.13, `populate_annual_billing` with
missing_services_only=True), and the default allowance ft_monthly_usage falls back on.

A service's default is default_annual_allowance's row for its organisation's type with the latest
valid_from_financial_year_start at or before the year. A service with no organisation, or an organisation without a
type, is billed as ORGANISATION_TYPE_WHEN_NONE ('other'), as the reference's set_default_free_allowance_for_service.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import sqlalchemy as sa

from notify_pipelines.core.vocabulary import ORGANISATION_TYPE_WHEN_NONE, SMS, sql_literals

# One row per service: its default SMS allowance for :financial_year (NULL where default_annual_allowance has none).
SERVICE_DEFAULT_ALLOWANCES = f"""
    SELECT s.id AS service_id, s.active, dflt.allowance
    FROM services s
    LEFT JOIN organisation o ON o.id = s.organisation_id
    LEFT JOIN LATERAL (
        SELECT d.allowance FROM default_annual_allowance d
        WHERE d.organisation_type = coalesce(o.organisation_type, {sql_literals([ORGANISATION_TYPE_WHEN_NONE])})
          AND d.notification_type = {sql_literals([SMS])}
          AND d.valid_from_financial_year_start <= :financial_year
        ORDER BY d.valid_from_financial_year_start DESC
        LIMIT 1
    ) dflt ON true"""

# Set-based, and never touches an existing row: ON CONFLICT also covers an admin upsert racing this insert.
INSERT_MISSING = sa.text(f"""
    INSERT INTO annual_billing (id, service_id, financial_year_start, free_sms_fragment_limit,
                                high_volume_service_last_year, has_custom_allowance)
    SELECT gen_random_uuid(), d.service_id, :financial_year, d.allowance, false, false
    FROM ({SERVICE_DEFAULT_ALLOWANCES}) d
    WHERE d.active AND d.allowance IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM annual_billing ab
                      WHERE ab.service_id = d.service_id AND ab.financial_year_start = :financial_year)
    ON CONFLICT (service_id, financial_year_start) DO NOTHING
""")

STILL_MISSING = sa.text(f"""
    SELECT count(*) FROM ({SERVICE_DEFAULT_ALLOWANCES}) d
    WHERE d.active AND NOT EXISTS (SELECT 1 FROM annual_billing ab
                                   WHERE ab.service_id = d.service_id AND ab.financial_year_start = :financial_year)
""")


@dataclass(frozen=True)
class PopulateResult:
    financial_year: int
    added: int  # services given their default this run
    still_missing: int  # active services left without a row: no default_annual_allowance row for their type and year

    def as_dict(self) -> dict:
        return asdict(self)


def populate_annual_billing(engine: sa.Engine, financial_year: int) -> PopulateResult:
    """Give every active service without an annual_billing row for `financial_year` (the April's year) its default."""
    with engine.begin() as conn:
        params = {"financial_year": financial_year}
        added = conn.execute(INSERT_MISSING, params).rowcount
        missing = conn.execute(STILL_MISSING, params).scalar_one()
        conn.execute(sa.text("ANALYZE annual_billing"))  # as the reference: the usage queries join it
    return PopulateResult(financial_year, added, missing)
