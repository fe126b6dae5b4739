"""Request rates and latency percentiles of a client log, against hand-computed values."""

from __future__ import annotations

import pytest

from soldout.reports.records import ClientRequest
from soldout.reports.traffic import bin_width, latency_by_kind, percentile, traffic_over_time

OPENS = 1_000.0


def request(
    at: float, latency: float | None, kind: str = "claim", status: int | None = 201
) -> ClientRequest:
    return ClientRequest(at, None, kind, status, None, "fan", "f", latency)


def test_nearest_rank_percentiles_of_five_values_in_any_order() -> None:
    values = [40, 15, 50, 35, 20]  # sorted: 15 20 35 40 50
    assert percentile(values, 50) == 35  # rank ceil(2.5) = 3
    assert percentile(values, 95) == 50  # rank ceil(4.75) = 5
    assert percentile(values, 99) == 50
    assert percentile(values, 20) == 15  # rank ceil(1.0) = 1
    assert percentile(values, 21) == 20  # rank ceil(1.05) = 2


def test_percentiles_of_one_to_a_hundred_are_the_rank_itself() -> None:
    values = list(range(100, 0, -1))
    assert [percentile(values, p) for p in (50, 95, 99, 100)] == [50, 95, 99, 100]


def test_percentiles_of_ten_values() -> None:
    values = [float(v) for v in range(1, 11)]
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (5, 10, 10)


def test_percentile_refuses_no_values_and_a_rank_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="p must"):
        percentile([1.0], 0)


def test_bins_of_one_second_from_the_first_request_to_the_last_with_empty_ones() -> None:
    log = [
        request(OPENS + 0.1, 10),
        request(OPENS + 0.5, 30),
        request(OPENS + 0.9, 20),
        request(OPENS + 2.0, 100),  # second 1 is empty
        request(OPENS - 0.5, None),  # before opening, no latency measured
    ]
    bins = traffic_over_time(log, OPENS, 1)
    assert [(b.start, b.requests, b.per_second) for b in bins] == [
        (-1, 1, 1.0),
        (0, 3, 3.0),
        (1, 0, 0.0),
        (2, 1, 1.0),
    ]
    assert (bins[0].p50, bins[2].p99) == (None, None)
    assert (bins[1].p50, bins[1].p95, bins[1].p99) == (20, 30, 30)
    assert (bins[3].p50, bins[3].p99) == (100, 100)


def test_wider_bins_divide_the_count_by_the_width() -> None:
    bins = traffic_over_time([request(OPENS + t, 1) for t in (0, 1, 2, 3, 4, 5)], OPENS, 5)
    assert [(b.start, b.requests, b.per_second) for b in bins] == [(0, 5, 1.0), (5, 1, 0.2)]


def test_no_request_no_bin() -> None:
    assert traffic_over_time([], OPENS) == []


@pytest.mark.parametrize(
    ("span", "width"), [(0, 1), (300, 1), (301, 2), (1_500, 5), (7_200, 30), (10**7, 3600)]
)
def test_bin_width_keeps_at_most_three_hundred_bins(span: float, width: int) -> None:
    assert bin_width(span) == width


def test_latency_by_kind_in_order_of_appearance_then_all() -> None:
    log = [
        request(OPENS, 5, "register", 201),
        request(OPENS, 40, "claim", 201),
        request(OPENS, 10, "claim", 409),
        request(OPENS, 20, "claim", None),  # no answer: counted as not 2xx
        request(OPENS, 7, "register", 201),
    ]
    rows = latency_by_kind(log)
    assert [(r.kind, r.requests, r.errors, r.p50, r.p95) for r in rows] == [
        ("register", 2, 0, 5, 7),
        ("claim", 3, 2, 20, 40),
        ("all", 5, 2, 10, 40),  # 5 7 10 20 40
    ]
