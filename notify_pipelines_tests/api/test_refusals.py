"""The API's refusals of input it would otherwise ignore or store: `page_size` outside 1-250 on the list endpoints,
and control characters in personalisation. Each is a 400 in the v2 error shape and writes nothing."""

from __future__ import annotations

import pytest

from notify_pipelines_tests.api.conftest import count_notifications, only_error
from notify_pipelines_tests.api.test_notifications import UK_ADDRESS, sms

LISTS = ["/v2/notifications", "/v2/received-text-messages"]


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("page_size", "message"),
    [
        ("-1", "page_size Input should be greater than or equal to 1"),
        ("0", "page_size Input should be greater than or equal to 1"),
        ("251", "page_size Input should be less than or equal to 250"),
        ("ten", "page_size Input should be a valid integer, unable to parse string as an integer"),
    ],
)
def test_page_size_outside_its_range_is_a_400(api, service, path, page_size, message):
    response = api.get(f"{path}?page_size={page_size}", headers=service.auth())
    assert only_error(response, 400) == message
    assert response.json()["errors"][0]["error"] == "ValidationError"


def test_page_size_at_its_edges_gives_that_many_rows_and_pages_on_with_it(api, service):
    ids = [api.post("/v2/notifications/sms", sms(service), headers=service.auth()).json()["id"] for _ in range(3)]

    first = api.get("/v2/notifications?page_size=1", headers=service.auth())
    assert first.status_code == 200, first.text
    assert [n["id"] for n in first.json()["notifications"]] == [ids[-1]]
    assert first.json()["links"]["next"].endswith(f"/v2/notifications?page_size=1&older_than={ids[-1]}")

    whole = api.get("/v2/notifications?page_size=250", headers=service.auth())
    assert [n["id"] for n in whole.json()["notifications"]] == ids[::-1]
    assert "page_size" not in whole.json()["links"]["next"]  # the default is not repeated

    texts = api.get("/v2/received-text-messages?page_size=250", headers=service.auth())
    assert texts.status_code == 200 and texts.json()["received_text_messages"] == []


@pytest.mark.parametrize(
    ("personalisation", "where"),
    [
        ({"name": "Jo\x00"}, "U+0000 in name"),
        ({"name": "\x1b[31mJo"}, "U+001B in name"),
        ({"name": "Jo", "other": ["fine", "bell\x07"]}, "U+0007 in other[1]"),
        ({"name": {"inner": "del\x7f"}}, "U+007F in name.inner"),
        ({"name": "Jo", "bad\x00key": "x"}, "U+0000 in the name 'bad\\x00key'"),
    ],
)
def test_control_characters_in_personalisation_are_a_400_and_nothing_is_written(api, service, db, personalisation,
                                                                               where):
    response = api.post("/v2/notifications/sms", sms(service, personalisation=personalisation), headers=service.auth())
    assert only_error(response, 400) == f"personalisation must not contain control characters ({where})"
    assert response.json()["errors"][0]["error"] == "ValidationError"
    assert count_notifications(db, service.id) == 0


def test_a_letter_address_with_a_control_character_is_refused(api, service, db):
    body = {"template_id": service.templates["letter"],
            "personalisation": {**UK_ADDRESS, "address_line_2": "1 High\x0bStreet", "name": "Jo"}}
    response = api.post("/v2/notifications/letter", body, headers=service.auth())
    # "templated." is the letter body's union tag, which the API puts before every letter field's schema error
    assert only_error(response, 400).endswith(
        "personalisation must not contain control characters (U+000B in address_line_2)")
    assert count_notifications(db, service.id) == 0


def test_tabs_and_line_breaks_in_personalisation_are_text(api, service, db):
    personalisation = {"name": "Jo\tSmith\r\nand family"}
    response = api.post("/v2/notifications/sms", sms(service, personalisation=personalisation), headers=service.auth())
    assert response.status_code == 201, response.text
    assert count_notifications(db, service.id) == 1
