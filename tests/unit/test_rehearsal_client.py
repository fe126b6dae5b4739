"""The rehearsal's request layer and one simulated press, on an in-memory transport:
retries keep the Idempotency-Key, the caps stop everything, every attempt is logged."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest

from soldout.rehearsal.actors import Sale, take_part
from soldout.rehearsal.client import Api, Budget, Exhausted
from soldout.rehearsal.log import RequestLog, Timeline
from soldout.rehearsal.plan import Participant
from soldout.rehearsal.scenario import parse_scenario
from soldout.rehearsal.transport import Reply, RequestTimeout

Sent = tuple[str, str, dict[str, str], bytes | None]


class ScriptedTransport:
    """Answers each request with the next reply scripted for its path's last segment
    (a `RequestTimeout` instance: no answer); remembers what was sent."""

    def __init__(self, script: dict[str, list[Reply | RequestTimeout]]) -> None:
        self.script = {k: deque(v) for k, v in script.items()}
        self.sent: list[Sent] = []

    async def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,  # noqa: ASYNC109 - the Transport protocol
    ) -> Reply:
        self.sent.append((method, path, dict(headers), body))
        reply = self.script[path.rsplit("/", 1)[-1].split("?")[0]].popleft()
        if isinstance(reply, RequestTimeout):
            raise reply
        return reply

    async def aclose(self) -> None:
        pass


def json_reply(status: int, data: Any) -> Reply:
    return Reply(status, orjson.dumps(data))


def error_reply(status: int, code: str) -> Reply:
    return json_reply(status, {"error": {"code": code, "message": code, "field": None}})


CLAIMED = json_reply(201, {"id": "clm_1", "sku": "A"})


def api_on(transport: ScriptedTransport, log: RequestLog | None = None, **budget: Any) -> Api:
    caps = {"max_requests": None, "deadline": None, **budget}
    return Api(transport, log, Budget(**caps), timeout=1, retries=3, backoff=0)


async def test_a_claim_is_sent_again_with_the_same_key_after_a_timeout_and_a_5xx() -> None:
    transport = ScriptedTransport(
        {"claims": [RequestTimeout("lost"), error_reply(503, "storage_unavailable"), CLAIMED]}
    )
    api = api_on(transport)
    answer = await api.call(
        "claim",
        "POST",
        "/api/v1/launches/L/claims",
        actor="fan",
        token="tok",
        json={"sku": "A"},
        headers={"Idempotency-Key": "k-1"},
    )
    assert answer.status == 201
    assert answer.data["id"] == "clm_1"
    assert len(transport.sent) == 3
    assert {s[2]["Idempotency-Key"] for s in transport.sent} == {"k-1"}
    assert {s[3] for s in transport.sent} == {b'{"sku":"A"}'}


async def test_a_refusal_is_not_sent_again() -> None:
    transport = ScriptedTransport({"claims": [error_reply(409, "sold_out")]})
    answer = await api_on(transport).call("claim", "POST", "/x/claims", actor="fan")
    assert (answer.status, answer.code) == (409, "sold_out")
    assert len(transport.sent) == 1


async def test_retries_stop_after_the_last_one() -> None:
    transport = ScriptedTransport({"claims": [error_reply(500, "internal_error")] * 4})
    answer = await api_on(transport).call("claim", "POST", "/x/claims", actor="fan")
    assert answer.status == 500
    assert len(transport.sent) == 4  # the request and 3 retries


async def test_the_request_cap_stops_every_client() -> None:
    transport = ScriptedTransport({"page": [json_reply(200, {})] * 5})
    api = api_on(transport, max_requests=2)
    await api.call("page", "GET", "/page", actor="fan")
    await api.call("page", "GET", "/page", actor="fan")
    with pytest.raises(Exhausted, match="max_requests"):
        await api.call("page", "GET", "/page", actor="fan")
    assert len(transport.sent) == 2
    assert api.budget.stopped_by == "max_requests"


async def test_the_time_cap_stops_every_client() -> None:
    transport = ScriptedTransport({"page": [json_reply(200, {})]})
    api = api_on(transport, deadline=time.monotonic() - 1)
    with pytest.raises(Exhausted, match="max_seconds"):
        await api.call("page", "GET", "/page", actor="fan")
    assert transport.sent == []


async def test_every_attempt_is_a_line_of_the_log(tmp_path: Path) -> None:
    timeline = Timeline()
    log = RequestLog(tmp_path / "requests.jsonl", timeline)
    transport = ScriptedTransport({"claims": [RequestTimeout("lost"), CLAIMED]})
    api = api_on(transport, log)
    await api.call("claim", "POST", "/x/claims", actor="bot", fan="fan_1", sku="A")
    timeline.open_at(0.0)  # the setup's lines wait for the opening to be known
    log.close()
    lines = [orjson.loads(line) for line in (tmp_path / "requests.jsonl").read_bytes().split()]
    assert [(x["status"], x["code"], x["attempt"]) for x in lines] == [
        (0, "timeout", 1),
        (201, None, 2),
    ]
    assert {(x["kind"], x["actor"], x["fan"], x["sku"]) for x in lines} == {
        ("claim", "bot", "fan_1", "A")
    }
    assert all(x["t_start"] < 0 and x["latency_ms"] >= 0 for x in lines)
    assert log.counters.claims_won == 1
    assert log.counters.errors == 1


SCENARIO = """
[launch]
pow_difficulty = 3
opens_in_seconds = 0
[[launch.skus]]
code = "A"
price = 100
batch = 1
[crowd]
fans = 1
arrival = { mean_seconds = 0.0 }
reaction = { mean_seconds = 0.0 }
pay_delay = { mean_seconds = 0.0 }
[run]
max_seconds = 10
max_requests = 100
"""


async def test_a_spent_proof_of_work_is_replaced_and_the_key_kept() -> None:
    challenge = json_reply(200, {"token": "t", "difficulty": 3})
    transport = ScriptedTransport(
        {
            "L": [json_reply(200, {})],
            "challenge": [challenge, challenge],
            "claims": [error_reply(403, "pow_reused"), CLAIMED],
            "payment": [json_reply(200, {"id": "ord_1", "sku": "A"})],
        }
    )
    solved: list[tuple[str, int, str]] = []

    async def solve(token: str, difficulty: int, actor: str) -> str:
        solved.append((token, difficulty, actor))
        return str(len(solved))

    scenario = parse_scenario(SCENARIO, "one.toml")
    sale = Sale(api_on(transport), scenario, "L", Timeline(), solve, "run", [], [])
    sale.timeline.open_at(0.0)
    fan = Participant(0, "fan", "f@x.test", None, "A", 0.0, 0.0, 0.0, False, False)
    fan.fan_id, fan.token = "fan_1", "tok"
    await take_part(sale, fan)
    claims = [s for s in transport.sent if s[1].endswith("/claims")]
    assert [c[2]["Proof-Of-Work"] for c in claims] == ["t:1", "t:2"]
    assert {c[2]["Idempotency-Key"] for c in claims} == {"run-0-1"}
    assert (fan.outcome, fan.claims, fan.orders) == ("paid", ["clm_1"], ["ord_1"])
    assert [y.kind for y in sale.yeses] == ["claim", "order"]
    assert sale.client_errors == []
