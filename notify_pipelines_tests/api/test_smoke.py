def test_sms_created(api, service):
    r = api.post("/v2/notifications/sms", {"phone_number": "07700 900123", "template_id": service.templates["sms"],
                                            "personalisation": {"name": "Jo"}}, headers=service.auth())
    assert r.status_code == 201, r.text
    print(r.json())
