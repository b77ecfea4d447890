"""A steady stream of API traffic at a fixed rate, for measuring the API while something else runs.

Open loop: request i is due at start + i / rate whatever the answers before it did, and its latency is counted from
when it was due, not from when it went out, so a stalled server shows as latency rather than as fewer requests (no
coordinated omission). The mix, in every 10 requests: 4 POST /v2/notifications/sms, 3 /email, 1 /letter and 2 MMG
delivery receipts (POST /notifications/sms/mmg) for SMS the stream sent earlier. Loopback only; bounded by a
duration and by a stop event, whichever comes first. The generator runs in a process of its own (asyncio + aiohttp),
so that its CPU is not the measured process's. aiohttp, not httpx: at 300 requests/s httpx's connection pool spent
its time re-scanning its queue of waiting requests (quadratic in the backlog), fell behind and took a core; a
generator that cannot keep its rate measures itself, not the API.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
import httpx
import jwt
import orjson

from benchmarks.bench_api import ADMIN_TOKEN

MIX = ("sms", "email", "sms", "callback", "email", "sms", "letter", "email", "sms", "callback")
CONNECTIONS = 64  # in flight at most; more would only queue in the client
TIMEOUT_SECONDS = 30.0  # a request not answered by then counts as an error
PHONE = "07700900123"
EMAIL = "someone@example.gov.uk"
ADDRESS = {"address_line_1": "A. Person", "address_line_2": "1 High Street", "address_line_3": "SW1A 1AA"}


@dataclass(frozen=True)
class Platform:
    """The service the stream sends as: its id, its normal key's secret and a template of each type."""

    service_id: str
    secret: str
    templates: dict[str, str]


def prepare(base: str) -> Platform:
    """A service that may send every type, with a rate limit the stream cannot reach, through the admin API."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
        service = client.post("/admin/services", json={"name": f"traffic {uuid.uuid4().hex[:8]}",
                                                       "rate_limit": 10_000_000,
                                                       "permissions": ["email", "sms", "letter"]})
        service.raise_for_status()
        service_id = service.json()["id"]
        templates = {}
        for kind, extra in (("sms", {}), ("email", {"subject": "Hi ((name))"}),
                            ("letter", {"subject": "Letter", "postage": "second"})):
            created = client.post(f"/admin/services/{service_id}/templates",
                                  json={"name": kind, "template_type": kind, "content": "Hello ((name))", **extra})
            created.raise_for_status()
            templates[kind] = created.json()["id"]
        key = client.post(f"/admin/services/{service_id}/api-keys", json={"name": "traffic", "key_type": "normal"})
        key.raise_for_status()
    return Platform(service_id, key.json()["secret"], templates)


@dataclass
class StreamResult:
    sent: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # of every answered request, from when it was due
    due_at: list[float] = field(default_factory=list)  # when each of those was due (epoch seconds)
    by_status: dict[str, int] = field(default_factory=dict)  # "201", "200", "4xx: ...", "5xx", "error: ..."
    acknowledged: list[str] = field(default_factory=list)  # ids of the notifications answered 201
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the generator's own, to show it kept its rate without taking the machine
    server_cpu_seconds: float = 0.0  # the API server's meanwhile, when the caller measures it (Server.cpu_seconds)

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.by_status.items() if status.startswith("5"))

    @property
    def failed(self) -> int:
        """5xx, timeouts and refused connections: every request the API did not answer as it should."""
        return self.server_errors + sum(n for status, n in self.by_status.items() if status.startswith("error"))

    def percentile(self, p: float, between: tuple[float, float] | None = None) -> float:
        """The p-th percentile of the latencies, of all requests or of those due `between` two epoch times."""
        values = self.latencies_ms if between is None else [
            ms for ms, due in zip(self.latencies_ms, self.due_at) if between[0] <= due < between[1]]
        if len(values) < 2:
            return values[0] if values else float("nan")
        return statistics.quantiles(values, n=1000, method="inclusive")[int(p * 10) - 1]

    def summary(self) -> str:
        return (f"{self.sent:,} requests in {self.seconds:.0f} s ({self.sent / max(self.seconds, 1e-9):.0f}/s): "
                f"p50 {self.percentile(50):.1f} ms, p99 {self.percentile(99):.1f} ms, "
                f"max {max(self.latencies_ms, default=float('nan')):.0f} ms; API CPU "
                f"{self.server_cpu_seconds / max(self.sent, 1) * 1000:.2f} ms a request "
                f"({self.server_cpu_seconds / max(self.seconds, 1e-9):.0%} of a core), generator CPU "
                f"{self.cpu_seconds / max(self.seconds, 1e-9):.0%} of a core; "
                + ", ".join(f"{status}: {n:,}" for status, n in sorted(self.by_status.items())))


def _token(platform: Platform, cache: dict) -> str:
    """A token minted at most a second ago (the API allows 30 s of clock drift)."""
    now = int(time.time())
    if cache.get("iat") != now:
        cache.update(iat=now, token=jwt.encode({"iss": platform.service_id, "iat": now}, platform.secret,
                                               algorithm="HS256"))
    return cache["token"]


def _request(kind: str, platform: Platform, sms_sent: list[str], i: int) -> tuple[str, dict]:
    if kind == "callback" and sms_sent:
        return "/notifications/sms/mmg", {"status": "3", "CID": sms_sent[i % len(sms_sent)]}
    if kind == "callback":
        kind = "sms"
    if kind == "sms":
        return "/v2/notifications/sms", {"phone_number": PHONE, "template_id": platform.templates["sms"],
                                         "personalisation": {"name": "Jo"}}
    if kind == "email":
        return "/v2/notifications/email", {"email_address": EMAIL, "template_id": platform.templates["email"],
                                           "personalisation": {"name": "Jo"}}
    return "/v2/notifications/letter", {"template_id": platform.templates["letter"],
                                        "personalisation": {**ADDRESS, "name": "Jo"}}


async def _stream(base: str, platform: Platform, rate: float, seconds: float, stop, started,
                  mix: tuple[str, ...]) -> StreamResult:
    result = StreamResult()
    sms_sent: list[str] = []
    cache: dict = {}
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(base_url=base, connector=connector, timeout=timeout) as session:

        async def one(i: int, due: float) -> None:
            path, body = _request(mix[i % len(mix)], platform, sms_sent, i)
            headers = {"Content-Type": "application/json"}
            if not path.startswith("/notifications/"):
                headers["Authorization"] = f"Bearer {_token(platform, cache)}"
            try:
                async with session.post(path, data=orjson.dumps(body), headers=headers) as response:
                    code, text = response.status, await response.text()
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                status = f"error: {type(error).__name__}"
            else:
                result.latencies_ms.append((time.perf_counter() - due) * 1000)
                result.due_at.append(due - clock_offset)
                status = str(code) if code < 500 else "5xx"
                if code == 201:
                    notification_id = orjson.loads(text)["id"]
                    result.acknowledged.append(notification_id)
                    if path.endswith("/sms"):
                        sms_sent.append(notification_id)
                elif 400 <= code < 500:
                    status = f"{code}: {text[:120]}"
            result.by_status[status] = result.by_status.get(status, 0) + 1

        started.set()
        start = time.perf_counter()
        clock_offset = start - time.time()  # perf_counter - epoch, to give each request's due time as a wall time
        tasks = []
        while time.perf_counter() - start < seconds and not stop.is_set():
            due = start + result.sent / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(result.sent, due)))
            result.sent += 1
        await asyncio.gather(*tasks)
        result.seconds = time.perf_counter() - start
    result.cpu_seconds = time.process_time()
    return result


def _run(base: str, platform: Platform, rate: float, seconds: float, stop, started, mix: tuple[str, ...],
         out) -> None:
    out.send(asyncio.run(_stream(base, platform, rate, seconds, stop, started, mix)))


class Stream:
    """`with Stream(base, platform, rate, seconds) as stream: ...` then `stream.result`: the stream runs in its own
    process from the `with` until the block ends (or `seconds` pass, whichever is first). `mix`: the kinds of request
    in turn (MIX by default; one kind alone prices it)."""

    def __init__(self, base: str, platform: Platform, rate: float, seconds: float, mix: tuple[str, ...] = MIX):
        context = multiprocessing.get_context("spawn")
        self.stop, self.started = context.Event(), context.Event()
        self.receive, send = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_run, args=(base, platform, rate, seconds, self.stop, self.started, mix, send), daemon=True)
        self.result: StreamResult | None = None

    def __enter__(self) -> "Stream":
        self.process.start()
        if not self.started.wait(timeout=60):  # the block's work begins once requests are flowing, not before
            raise RuntimeError("the traffic stream did not start")
        return self

    def wait(self) -> StreamResult:
        """Until the stream has run its `seconds`."""
        if self.result is None:
            self.result = self.receive.recv()  # before join: the child's send blocks until it is read
        self.process.join(timeout=60)
        return self.result

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.wait()
