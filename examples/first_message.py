"""Your first message: a service, an SMS template and an API key made through the admin endpoints, then a text sent
and read back with GOV.UK Notify's official client, `notifications-python-client`.

Run it from the repository root while `notify-pipelines dev` runs: it reads the stack's settings (NOTIFY_API_URL,
NOTIFY_ADMIN_TOKEN) from ./.env, unless they are set already.
"""

from __future__ import annotations

import sys

import requests
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from notify_pipelines.core.settings import admin_token, api_url
from notify_pipelines.core.vocabulary import KEY_TYPE_NORMAL, SMS
from notify_pipelines.tooling.dev import load_dotenv

PHONE_NUMBER = "07700900123"  # Ofcom's drama range: never a real person's phone


class Failed(Exception):
    """What went wrong, said in one line."""


def admin_post(base: str, token: str, path: str, body: dict) -> dict:
    try:
        response = requests.post(f"{base}{path}", json=body, timeout=10,  # json= also sends the Content-Type header
                                 headers={"Authorization": f"Bearer {token}"})
    except requests.ConnectionError:
        raise Failed(f"the API at {base} does not answer: is `notify-pipelines dev` running?") from None
    if response.status_code != 201:
        raise Failed(f"POST {path} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def main() -> None:
    load_dotenv()
    base, token = api_url(), admin_token()
    if not token:
        raise Failed("NOTIFY_ADMIN_TOKEN is not set: start `notify-pipelines dev` (it writes ./.env) and run this "
                     "from the repository root")
    service = admin_post(base, token, "/admin/services", {"name": "First message", "restricted": False})
    template = admin_post(base, token, f"/admin/services/{service['id']}/templates",
                          {"name": "Hello", "template_type": SMS, "content": "Hello ((name)), this is your first message."})
    key = admin_post(base, token, f"/admin/services/{service['id']}/api-keys",
                     {"name": "first-message", "key_type": KEY_TYPE_NORMAL})
    print(f"created service {service['id']}, SMS template {template['id']} and API key {key['id']} "
          f"(admin endpoints at {base})")

    client = NotificationsAPIClient(key["key"], base_url=base)  # the combined key: <name>-<service id>-<secret>
    sent = client.send_sms_notification(PHONE_NUMBER, template["id"], personalisation={"name": "Jo"},
                                        reference="first-message")
    print(f"sent SMS {sent['id']} to {PHONE_NUMBER} with notifications-python-client: {sent['content']['body']!r}")
    read = client.get_notification_by_id(sent["id"])
    print(f"read it back: status {read['status']}, created at {read['created_at']}, reference {read['reference']}")


if __name__ == "__main__":
    try:
        main()
    except (Failed, HTTPError) as exc:
        print(f"first_message: {exc}", file=sys.stderr)
        sys.exit(1)
