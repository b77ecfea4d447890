"""Plant a precompiled letter stuck in pending-virus-check whose upload is not in the scan bucket, so that the
`letters_pending_virus_check` sensor fails naming it (reference §4.2: such a letter cannot be re-scanned; a person
must find the file or ask the service to send it again).

Run it from the repository root while `notify-pipelines dev` runs: it reads NOTIFY_DATABASE_URL from ./.env, unless
it is set already. The letter goes to the first demo service that has the hidden precompiled letter template.

Why "just over 10 minutes old": the sensor looks at letters 10-120 minutes old, and each tick only at those that
passed 10 minutes since its previous tick (a watermark on created_at). A letter backdated further could fall behind
the watermark of a tick made a moment ago and be reported only by a preview, never by the running sensor.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
import sys
import uuid

import sqlalchemy as sa

from notify_pipelines.core.settings import ConfigError, LetterBuckets, database_url
from notify_pipelines.core.vocabulary import KEY_TYPE_NORMAL, LETTER, PRECOMPILED_TEMPLATE_NAME, utc_now
from notify_pipelines.db.engine import get_engine
from notify_pipelines.db.schema import notifications, templates
from notify_pipelines.monitoring.queries import VIRUS_CHECK_MIN_AGE, Letter
from notify_pipelines.monitoring.virus_scan import scan_filename
from notify_pipelines.tooling.dev import load_dotenv

PENDING_VIRUS_CHECK = "pending-virus-check"
BACKDATED_BY = VIRUS_CHECK_MIN_AGE + dt.timedelta(seconds=5)
POSTAGE = "second"


def plant(engine: sa.Engine) -> Letter:
    """One INSERT ... SELECT: the letter, on the first service with the precompiled template."""
    t, n = templates.c, notifications.c
    letter = Letter(uuid.uuid4(), "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
                    utc_now() - BACKDATED_BY, POSTAGE)
    values = {"id": letter.id, "to": "The Occupier\nSW1A 1AA", "key_type": KEY_TYPE_NORMAL, "notification_type": LETTER,
              "created_at": letter.created_at, "notification_status": PENDING_VIRUS_CHECK,
              "reference": letter.reference, "postage": letter.postage}
    source = (
        sa.select(*(sa.literal(value, n[name].type).label(name) for name, value in values.items()),
                  t.service_id, t.id.label("template_id"), t.version.label("template_version"))
        .where(t.name == PRECOMPILED_TEMPLATE_NAME, t.hidden, t.template_type == LETTER)
        .order_by(t.service_id)
        .limit(1)
    )
    columns = [*values, "service_id", "template_id", "template_version"]
    with engine.begin() as conn:
        planted = conn.execute(notifications.insert().from_select(columns, source)).rowcount
    if not planted:
        raise ConfigError("no service has a precompiled letter template: is the demo data loaded (notify-pipelines dev)?")
    return letter


def main() -> None:
    load_dotenv()
    letter = plant(get_engine(database_url()))
    print(f"planted precompiled letter {letter.id} (reference {letter.reference}), in {PENDING_VIRUS_CHECK} since "
          f"{letter.created_at:%H:%M:%S} UTC; its upload {scan_filename(letter)} is not in the scan bucket "
          f"{LetterBuckets.from_env().letters_scan}")


if __name__ == "__main__":
    try:
        main()
    except (ConfigError, sa.exc.OperationalError) as exc:
        print(f"stuck_letter: {str(exc).splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
