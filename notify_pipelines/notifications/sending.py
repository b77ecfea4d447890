"""The rules for sending (reference §6.5, in its order after auth and the rate limit): the template must be the
service's, of the right type and not deleted; the service must have the permission; scheduling and alternative
senders are not offered; letters are refused to team keys and trial services; and the row that gets written."""

from __future__ import annotations

import secrets
import string
import uuid

import orjson

from notify_pipelines.core.vocabulary import KEY_TYPE_TEAM, utc_now
from notify_pipelines.notifications import store
from notify_pipelines.notifications.errors import DomainError, NotPermitted, PdfNotReady, Refused

PERMISSION_WORDS = {"sms": "text messages", "email": "emails", "letter": "letters"}
_REFERENCE_ALPHABET = string.ascii_uppercase + string.digits


def check_template(template: store.Template | None, notification_type: str,
                   service: store.ServiceCredentials) -> store.Template:
    if template is None:
        raise Refused("Template not found")
    if template.template_type != notification_type:
        raise Refused(f"{template.template_type} template is not suitable for {notification_type} notification")
    if template.archived:
        raise Refused("Template has been deleted")
    if notification_type not in service.permissions:
        raise Refused(f"Service is not allowed to send {PERMISSION_WORDS[notification_type]}")
    return template


def refuse_unsupported(form) -> None:
    fields = vars(form)  # not getattr(form, name, None): a pydantic model raises (and catches) for a missing field
    if fields.get("scheduled_for") is not None:
        raise Refused(
            "Cannot schedule notifications (this service doesn't have permission to schedule notifications)"
        )
    if fields.get("sms_sender_id") is not None:
        raise Refused("sms_sender_id is not supported by this service: leave it out to use the default sender")
    if fields.get("email_reply_to_id") is not None:
        raise Refused("email_reply_to_id is not supported by this service: leave it out to use the default")


def refuse_restricted_letters(service: store.ServiceCredentials, key_type: str) -> None:
    """Reference: letters with a team key, or from a service in trial mode, are 403."""
    if key_type == KEY_TYPE_TEAM:
        raise NotPermitted("Cannot send letters with a team api key")
    if service.restricted and key_type != "test":
        raise NotPermitted("Cannot send letters when service is in trial mode")


def base_row(service_id: uuid.UUID, api_key_id: uuid.UUID, key_type: str, template: store.Template,
             notification_type: str, reference: str | None, personalisation: dict | None) -> dict:
    """A `notifications` row in status created (reference persist_notification)."""
    return dict(
        id=store.new_id(),
        service_id=service_id,
        template_id=template.id,
        template_version=template.version,
        api_key_id=api_key_id,
        key_type=key_type,
        notification_type=notification_type,
        created_at=utc_now(),
        notification_status="created",
        client_reference=reference,
        _personalisation=orjson.dumps(personalisation).decode() if personalisation else None,
    )


def letter_reference() -> str:
    return "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(16))


def sender_email(service_name: str) -> str:
    sender = "".join(c for c in service_name.lower().replace(" ", ".") if c.isalnum() or c == ".") or "notify"
    return f"{sender}@notifications.service.gov.uk"




def pdf_refusal(notification_type: str, status: str) -> DomainError | None:
    """Reference get_pdf_for_notification: why a notification's PDF cannot be given, or None."""
    if notification_type != "letter":
        return Refused("Notification is not a letter")
    if status == "virus-scan-failed":
        return Refused("File did not pass the virus scan")
    if status == "technical-failure":
        return Refused(f"PDF not available for letters in status {status}")
    if status == "pending-virus-check":
        return PdfNotReady()
    return None
