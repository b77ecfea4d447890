"""The callbacks' and GET's queries on notifications/notification_history use an index (EXPLAIN on a table with
enough rows and fresh statistics that the planner's choice is the real one)."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from notify_pipelines.db import schema
from notify_pipelines.notifications import reads, status_updates, store


def explain(conn: sa.Connection, statement) -> str:
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}"))


def test_callback_and_read_queries_use_indexes(api, service, db):
    conn = db.connect()
    transaction = conn.begin()  # rolled back: the 20,000 rows are only for the planner
    try:
        for table in ("notifications", "notification_history"):
            conn.execute(sa.text(f"""
                INSERT INTO {table} (id, {'"to", ' if table == 'notifications' else ''}service_id, template_id,
                    template_version, key_type, notification_type, created_at, notification_status, reference)
                SELECT gen_random_uuid(), {"'x', " if table == 'notifications' else ''}:service_id, :template_id, 1,
                    'normal', 'email', now() - g * interval '1 minute', 'sending', 'ref-' || g
                FROM generate_series(1, 20000) g"""),
                {"service_id": service.id, "template_id": service.templates["email"]})
            conn.execute(sa.text(f"ANALYZE {table}"))
        conn.execute(sa.text("""
            INSERT INTO inbound_sms (id, created_at, service_id, notify_number, user_number, provider, content)
            SELECT gen_random_uuid(), now() - g * interval '1 minute', :service_id, '07700900000', '447700900123',
                'mmg', 'hi' FROM generate_series(1, 20000) g"""), {"service_id": service.id})
        conn.execute(sa.text("ANALYZE inbound_sms"))
        sid = uuid.UUID(service.id)
        plans = {
            "list": explain(conn, reads.notifications_page(sid, "normal")),
            "list by type and status": explain(conn, reads.notifications_page(
                sid, "normal", template_types=["email"], statuses=["failed"])),
            "list by reference": explain(conn, reads.notifications_page(sid, "normal", reference="ref-7")),
            "list older than": explain(conn, reads.notifications_page(sid, "normal", older_than=uuid.uuid4())),
            "received texts": explain(conn, reads.received_texts_page(sid)),
            "received texts older than": explain(conn, reads.received_texts_page(sid, uuid.uuid4())),
            "templates": explain(conn, reads.templates_of_service(sid, "sms")),
            "lock by id": explain(conn, status_updates.lock_by_id(uuid.uuid4())),
            "ses notifications": explain(conn, status_updates.lock_email_by_reference(schema.notifications, "ref-7")),
            "ses history": explain(conn, status_updates.lock_email_by_reference(schema.notification_history, "ref-7")),
            "get": explain(conn, store.notification_by_id(uuid.UUID(service.id), uuid.uuid4())),
            "daily count": explain(conn, store.sent_since_query(uuid.UUID(service.id), "email",
                                                                dt.datetime.utcnow() - dt.timedelta(hours=1))),
        }
    finally:
        transaction.rollback()
        conn.close()
    # No scan of the tables a query is driven by. templates_history is joined for the page's template versions:
    # while it holds a few dozen rows (as in this test database, in a varying number by test order) the planner
    # rightly reads it whole.
    big = ("notifications", "notification_history", "inbound_sms", "templates")
    for label, plan in plans.items():
        assert not any(f"Seq Scan on {table} " in plan + " " for table in big) and "Index" in plan, (label, plan)
