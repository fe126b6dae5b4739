"""Reading a client log: good lines kept, garbage lines reported with their line number
and skipped, unknown fields ignored."""

from __future__ import annotations

from pathlib import Path

from soldout.reports.client_log import (
    SkippedLine,
    parse_client_log,
    read_client_log,
    since_opening,
)
from soldout.reports.records import ClientRequest

LINES = [
    '{"t_start": 100.0, "t_end": 100.25, "kind": "claim", "status": 201, "code": null,'
    ' "actor": "fan", "fan_id": "fan_1"}',
    "not json {",
    "[1, 2]",
    '{"kind": "claim"}',
    "",
    '{"t_start": "soon"}',
    '{"t_start": 10, "t_end": 9}',
    '{"t_start": NaN}',
    '{"t_start": 1e400}',
    '{"t_start": 101, "latency_ms": 12.5, "kind": "pay", "status": "402", "code": "declined",'
    ' "actor": "BOT", "fan": "bot_7", "sku": "A", "extra": {"nested": [1]}}',
    '{"t_start": true}',
    '{"t_start": 102, "latency_ms": -1}',
    "   ",
    '{"t_start": 103}',
]


def test_garbage_lines_are_reported_by_number_and_skipped() -> None:
    log = parse_client_log(LINES)
    assert log.skipped == (
        SkippedLine(2, "not JSON"),
        SkippedLine(3, "not a JSON object"),
        SkippedLine(4, "no t_start"),
        SkippedLine(6, "t_start is not a number"),
        SkippedLine(7, "t_end is before t_start"),
        SkippedLine(8, "not JSON"),  # NaN is not JSON
        SkippedLine(9, "not JSON"),  # nor is a number beyond a double
        SkippedLine(11, "t_start is not a number"),
        SkippedLine(12, "latency_ms is negative"),
    )
    assert log.requests == (
        ClientRequest(100.0, 100.25, "claim", 201, None, "fan", "fan_1", 250.0),
        ClientRequest(101.0, None, "pay", 402, "declined", "bot", "bot_7", 12.5),
        ClientRequest(103.0, None, "unknown", None, None, "unknown", None, None),
    )


def test_only_2xx_is_ok() -> None:
    ok, declined, unanswered = parse_client_log(LINES).requests
    assert (ok.ok, declined.ok, unanswered.ok) == (True, False, False)


def test_a_file_with_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"t_start": 1, "fan_id": "f\xff"}\n\xfe\xfe\n')
    log = read_client_log(path)
    assert [r.fan_id for r in log.requests] == ["f\ufffd"]
    assert log.skipped == (SkippedLine(2, "not JSON"),)


def test_the_rehearsals_own_line_is_read_with_its_fan_field() -> None:
    rehearse = (
        '{"t_start": -1.2034, "t_end": -1.1981, "latency_ms": 5.3, "kind": "join",'
        ' "status": 200, "code": null, "actor": "fan", "fan": "fan_1", "sku": null,'
        ' "attempt": 1}'
    )
    lost = '{"t_start": 2, "t_end": 12, "kind": "claim", "status": 0, "code": "timeout"}'
    log = parse_client_log([rehearse, lost])
    assert log.skipped == ()
    join, timeout = log.requests
    assert join == ClientRequest(-1.2034, -1.1981, "join", 200, None, "fan", "fan_1", 5.3)
    assert (timeout.status, timeout.ok, timeout.latency_ms) == (0, False, 10_000)


def test_epoch_times_are_counted_from_the_opening_and_others_kept() -> None:
    opens = 1_900_000_000.0
    epoch = ClientRequest(opens + 2.5, opens + 2.75, "claim", 201, None, "fan", "a", 250.0)
    relative = ClientRequest(-3.0, -2.5, "room", 200, None, "fan", "a", 500.0)
    assert since_opening([epoch, relative], opens) == [
        ClientRequest(2.5, 2.75, "claim", 201, None, "fan", "a", 250.0),
        relative,
    ]


def test_a_status_that_is_not_an_http_status_is_no_status() -> None:
    lines = [f'{{"t_start": 1, "status": {s}}}' for s in ('"²"', '"' + "9" * 5000 + '"', '"ok"')]
    log = parse_client_log(lines)
    assert [r.status for r in log.requests] == [None, None, None]
