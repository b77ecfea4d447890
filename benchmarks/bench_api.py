"""POST /v2/notifications/sms throughput and latency under `wrk` on this machine (goal: >= 2,000 requests/s, p99 < 50 ms),
and GET /v2/notifications (a full page of 250, the largest body a response model validates and serialises).

The server is `notify-pipelines api` in a subprocess (uvicorn, uvloop + httptools) on a scratch database. Figures:
  * before: the API at the commit before the issue-13 re-cut (NOTIFY_BENCH_API_BASELINE), checked out in a git
    worktree and served from the same venv (PYTHONPATH), on the same scratch database;
  * after: this tree's API;
  * ceiling: GET /_status on this tree's server (no auth, no database): what the HTTP stack alone can do.
Each line also gives the server's own CPU time per request (all its processes, from /proc), which does not depend
on what else the machine is running. Ratios are after / before in the same invocation; the ceiling shows what the HTTP stack alone does in the
same conditions (this machine is shared, so absolute figures move with its load). The JWT is minted at the start of each run; runs are
shorter than the 30 s the token's iat allows. Needs `wrk` (Debian: apt-get install -y wrk).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import requests
import sqlalchemy as sa

from benchmarks.common import cpu_seconds_of, report, scratch_database
from notify_pipelines.db import schema
from notify_pipelines.db.engine import get_engine

ADMIN_TOKEN = "bench-admin-token"
LUA = """
wrk.method = "POST"
wrk.body = '{"phone_number": "07700900123", "template_id": "%(template_id)s", "personalisation": {"name": "Jo"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
"""
LUA_GET = """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer %(token)s"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, *, workers: int, source: str | None = None):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "NOTIFY_DATABASE_URL": url, "NOTIFY_ADMIN_TOKEN": ADMIN_TOKEN,
               "NOTIFY_API_ACCESS_LOG": "0"}
        if source:  # another checkout of the project (the baseline commit), run from the same venv
            env["PYTHONPATH"] = source
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "notify_pipelines.tooling.cli", "api", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers)],
            env=env, cwd=source or None, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def __enter__(self) -> "Server":
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(self.base + "/_status", timeout=1).ok:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the API server did not start")

    def __exit__(self, *exc) -> None:
        os.killpg(self.process.pid, 15)
        self.process.wait(timeout=20)

    def cpu_seconds(self) -> float:
        """User + system CPU of the server's processes (all workers) so far, from /proc."""
        pids = subprocess.run(["pgrep", "-g", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        return cpu_seconds_of(pids)


def _setup(base: str) -> tuple[str, str, str]:
    """A service (with a rate limit the load cannot hit), an SMS template and a normal key, via the admin API."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    service = requests.post(f"{base}/admin/services", json={"name": f"bench {time.time()}", "rate_limit": 10_000_000},
                            headers=headers, timeout=10).json()["id"]
    template = requests.post(f"{base}/admin/services/{service}/templates", headers=headers, timeout=10,
                             json={"name": "bench", "template_type": "sms", "content": "Hello ((name))"}).json()["id"]
    key = requests.post(f"{base}/admin/services/{service}/api-keys", headers=headers, timeout=10,
                        json={"name": "bench", "key_type": "normal"}).json()
    return service, template, key["secret"]


def _wrk(url: str, seconds: int, connections: int, script: str | None = None, server: Server | None = None) -> dict:
    cpu_before = server.cpu_seconds() if server else 0.0
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        command += ["-s", script]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)

    def percentile(p: str) -> float:
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    cpu_ms = (server.cpu_seconds() - cpu_before) * 1000 / max(total, 1) if server else None
    return {"rps": rps, "requests": total, "non_2xx": int(bad.group(1)) if bad else 0, "cpu_ms": cpu_ms,
            "socket_errors": errors.group(1) if errors else "none", "p50": percentile("50"), "p99": percentile("99")}


def _round(server: Server, prepared: tuple[str, str, str], seconds: int, connections: int, *, path: str,
           lua: str) -> dict:
    """One round with a freshly minted token (iat within 30 s), after a warm-up of half its length: a fresh database
    is measurably slower for its first seconds of inserts (new WAL segments and table pages), which is not the steady
    state being measured."""
    import jwt

    service, template, secret = prepared
    token = jwt.encode({"iss": service, "iat": int(time.time())}, secret, algorithm="HS256")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua % {"template_id": template, "token": token})
    try:
        _wrk(server.base + path, max(2, seconds // 2), connections, f.name)  # warm-up
        return _wrk(server.base + path, seconds, connections, f.name, server)
    finally:
        os.unlink(f.name)


def _median(results: list[dict]) -> dict:
    return sorted(results, key=lambda r: r["rps"])[len(results) // 2]


def _alternating(servers: list[Server], prepared: list[tuple[str, str, str]], seconds: int, connections: int,
                 rounds: int, **request) -> list[list[dict]]:
    """Every round per server; the servers take turns round by round (the first server first in odd rounds, last in
    even ones), so a change in the machine's load falls on both alike."""
    results: list[list[dict]] = [[] for _ in servers]
    for round_number in range(rounds):
        order = list(range(len(servers)))
        if round_number % 2:
            order.reverse()
        for i in order:
            results[i].append(_round(servers[i], prepared[i], seconds, connections, **request))
    return results


def _comparison(rows: list, what: str, before_rounds: list[dict], after_rounds: list[dict]) -> None:
    before, after = _median(before_rounds), _median(after_rounds)
    # Each round's two figures were taken back to back, under the same load: their ratios vary less than either
    # server's own figures from round to round.
    paired = sorted(a["rps"] / b["rps"] for a, b in zip(after_rounds, before_rounds))
    rows.append((f"{what}: before (commit {BASELINE_COMMIT})", _line(before)))
    rows.append((f"{what}: after (this tree)", _line(after, before)))
    rows.append((f"{what}: after / before, by round", f"median {paired[len(paired) // 2]:.2f}x "
                                                      f"({', '.join(f'{r:.2f}' for r in paired)})"))


def _line(result: dict, baseline: dict | None = None) -> str:
    ratio = f", {result['rps'] / baseline['rps']:.2f}x the baseline commit" if baseline else ""
    cpu = f", server CPU {result['cpu_ms']:.3f} ms/request" if result.get("cpu_ms") is not None else ""
    return (f"{result['rps']:,.0f} req/s, p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms{ratio}{cpu} "
            f"({result['requests']:,} requests, non-2xx {result['non_2xx']}, socket errors {result['socket_errors']})")


def _response_model_cost(rows: list) -> None:
    """What a route's response_model adds, in process (no HTTP, no database): FastAPI validates the route's dict with
    the model's TypeAdapter and serialises it with dump_json, where a hand-made response was one orjson.dumps. Best
    of 5 repeats, so the machine's load weighs less than in the wrk rounds."""
    import timeit
    import uuid

    import orjson
    from pydantic import TypeAdapter

    from notify_pipelines.api.schemas import NotificationsPage, SmsResponse

    template = {"id": uuid.uuid4(), "version": 1, "uri": "http://127.0.0.1/services/s/templates/t"}
    sms = {"id": uuid.uuid4(), "reference": None, "uri": "http://127.0.0.1/v2/notifications/n", "template": template,
           "scheduled_for": None, "content": {"body": "Hello Jo", "from_number": "GOVUK"}}
    row = {"id": uuid.uuid4(), "reference": "r", "email_address": None, "phone_number": "07700900123",
           **{f"line_{i}": None for i in range(1, 7)}, "postcode": None, "type": "sms", "status": "delivered",
           "template": template, "body": "Hello Jo", "subject": None, "created_at": "2026-12-07T05:00:00.123456Z",
           "created_by_name": None, "sent_at": None, "completed_at": "2026-12-07T05:00:09.123456Z",
           "scheduled_for": None, "postage": None, "one_click_unsubscribe_url": None, "billable_units": 1}
    page = {"notifications": [dict(row, id=uuid.uuid4()) for _ in range(250)],
            "links": {"current": "http://127.0.0.1/v2/notifications", "next": "http://127.0.0.1/v2/notifications?o"}}
    for what, model, body, number in (("SMS 201 body", SmsResponse, sms, 2000),
                                      ("page of 250", NotificationsPage, page, 20)):
        adapter = TypeAdapter(model)

        def best(fn) -> float:
            return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # noqa: B023

        plain = best(lambda: orjson.dumps(body))  # noqa: B023
        checked = best(lambda: adapter.dump_json(adapter.validate_python(body)))  # noqa: B023
        rows.append((f"response model, {what}", f"validate + serialise {checked:,.0f} us, orjson alone {plain:,.0f} us "
                                                 f"(+{checked - plain:,.0f} us a response), in process"))


BASELINE_COMMIT = os.environ.get("NOTIFY_BENCH_API_BASELINE", "cccf9af")  # the API before the issue-13 re-cut


def _baseline_checkout() -> str:
    """The baseline commit in a temporary worktree (same machine, same venv, same database server)."""
    path = os.path.join(tempfile.gettempdir(), f"notify-api-baseline-{BASELINE_COMMIT}")
    if not os.path.exists(path):
        subprocess.run(["git", "worktree", "add", "--detach", path, BASELINE_COMMIT], check=True, capture_output=True)
    return path


def main(quick: bool = False) -> None:
    if shutil.which("wrk") is None:
        print("bench_api: wrk is not installed (apt-get install -y wrk); skipped")
        return
    seconds = 3 if quick else 10
    # The machine is shared: the median of several rounds steadies the figure (NOTIFY_BENCH_API_ROUNDS, default 5)
    rounds = 1 if quick else int(os.environ.get("NOTIFY_BENCH_API_ROUNDS", "5"))
    connections = 16
    rows: list[tuple[str, str]] = []
    _response_model_cost(rows)
    baseline_source = _baseline_checkout()
    with scratch_database("notify_bench_api") as url:
        with Server(url, workers=1, source=baseline_source) as old, Server(url, workers=1) as new:
            prepared = [_setup(server.base) for server in (old, new)]
            _comparison(rows, "POST sms", *_alternating([old, new], prepared, seconds, connections, rounds,
                                                        path="/v2/notifications/sms", lua=LUA))
            # By now each service holds far more than a page: every GET answers a full page of 250.
            _comparison(rows, "GET page of 250", *_alternating([old, new], prepared, seconds, connections, rounds,
                                                               path="/v2/notifications", lua=LUA_GET))
            ceiling = _wrk(new.base + "/_status", seconds, connections, server=new)
        rows.append(("ceiling GET /_status, this tree", _line(ceiling)))
        with get_engine(url).connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(schema.notifications)).scalar_one()
        rows.append(("rows stored (all runs, incl. warm-ups)", f"{stored:,}"))
    rows.append(("server", "notify-pipelines api (uvicorn, uvloop + httptools), access log off, cache TTL 5 s, "
                           "group commit, limits in process (no NOTIFY_REDIS_URL)"))
    report(f"API: POST /v2/notifications/sms and GET /v2/notifications (1 worker) under wrk -t2 -c{connections} -d{seconds}s, median of {rounds} round(s), "
           f"the baseline commit and this tree taking turns in the same run (2 cores shared with wrk and PostgreSQL)", rows)
