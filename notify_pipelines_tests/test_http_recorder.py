import requests


def test_recorder_records_and_answers_in_turn(http_recorder):
    http_recorder.respond_with(503, 200)
    first = requests.post(f"{http_recorder.url}/cb", json={"a": 1}, timeout=5)
    second = requests.post(f"{http_recorder.url}/cb", json={"a": 2}, timeout=5)
    assert (first.status_code, second.status_code) == (503, 200)
    assert [r.json()["a"] for r in http_recorder.requests] == [1, 2]
