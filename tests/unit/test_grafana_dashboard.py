"""docs/grafana-dashboard.json: importable as it stands, and every metric its PromQL names
is one a real scrape of `/metrics` serves, with the labels its selectors ask for.

A dashboard that names a metric nobody serves shows "No data" on the day it is needed,
so the names are checked against a scrape of a platform built in-process (the `# TYPE`
lines, which list every family even before it has a sample), not against a list kept
here by hand."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from soldout.api.app import build_app
from soldout.metrics import Metrics, SaleFigures
from soldout.services import Platform
from soldout.services.tokens import TokenSigner
from soldout.store.memory import InMemoryStore

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"
TOKEN = "adm_grafana_dashboard_test_token_0123456789"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}

# a metric: an identifier of ours or the client's, not a function (`rate(`) and not part
# of a longer identifier; string literals are taken out of the expression first
METRIC = re.compile(r"(?<![\w:])((?:soldout|process|python)_[A-Za-z0-9_:]*)(?![\w:])(?!\s*\()")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
SELECTOR = re.compile(r"(?<![\w:])([A-Za-z_:][\w:]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
RATED = re.compile(r"\b(?:rate|irate|increase)\(\s*([A-Za-z_:][\w:]*)")
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def load() -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dashboard


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows included, and those inside a collapsed row."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def graphs(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in all_panels(dashboard) if panel["type"] != "row"]


def expressions(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every target and every templating query."""
    for panel in graphs(dashboard):
        for target in panel["targets"]:
            yield f"panel {panel['title']!r}", target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            yield f"${variable['name']}", query["query"] if isinstance(query, dict) else query


def metrics_in(expr: str) -> set[str]:
    return set(METRIC.findall(STRING.sub('""', expr)))


async def scraped_types() -> dict[str, str]:
    """Family name -> type, from the `# TYPE` lines of a real scrape of `/metrics`."""
    platform = Platform(InMemoryStore(), TokenSigner(None, TOKEN))
    app = build_app(platform)
    await platform.start(sweep=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://t"
        ) as client:
            response = await client.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    finally:
        await platform.stop()
    assert response.status_code == 200, response.text
    types = dict(TYPE_LINE.findall(response.text))
    assert "soldout_build_info" in types, response.text[:2000]
    return types


def family_of(name: str, types: dict[str, str]) -> tuple[str, str] | None:
    """(family, type) a sample name belongs to; None when no family serves that name.

    A histogram's samples are its `_bucket`, `_sum` and `_count` (its bare name has no
    series); a counter's carry `_total` (its TYPE line has it in the classic text format,
    not in OpenMetrics)."""
    kind = types.get(name)
    if kind is not None:
        return None if kind in ("histogram", "summary") else (name, kind)
    for suffix in HISTOGRAM_PARTS:
        base = name.removesuffix(suffix)
        if base != name and types.get(base) in ("histogram", "summary"):
            if suffix == "_bucket" and types[base] != "histogram":
                return None
            return base, types[base]
    base = name.removesuffix("_total")
    if base != name and types.get(base) == "counter":
        return base, "counter"
    return None


def unknown_metrics(dashboard: dict[str, Any], types: dict[str, str]) -> list[str]:
    return sorted(
        f"{where}: {name}"
        for where, expr in expressions(dashboard)
        for name in metrics_in(expr)
        if family_of(name, types) is None
    )


# -- the file -------------------------------------------------------------------------
def test_it_is_json_with_unique_ids_and_every_panel_asks_prometheus() -> None:
    dashboard = load()
    ids = [panel["id"] for panel in all_panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {sorted(ids)}"
    panels = graphs(dashboard)
    assert len(panels) >= 20
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"] == DATASOURCE, title
        assert panel["targets"], f"{title}: no target"
        assert panel.get("description", "").strip(), f"{title}: no description"
        assert panel["fieldConfig"]["defaults"].get("unit"), f"{title}: no unit"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), title
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, title
            assert target["expr"].strip(), title
            assert metrics_in(target["expr"]), f"{title}: no metric in {target['expr']!r}"
    titles = [panel["title"] for panel in panels]
    assert len(titles) == len(set(titles)), "two panels with one title"


def test_it_is_importable_and_asks_for_its_prometheus() -> None:
    dashboard = load()
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["id"] is None  # Grafana gives it one on import
    assert dashboard["uid"]
    [source] = dashboard["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    required = {(item["type"], item["id"]) for item in dashboard["__requires"]}
    assert {("grafana", "grafana"), ("datasource", "prometheus")} <= required
    used = {panel["type"] for panel in graphs(dashboard)}
    assert {("panel", kind) for kind in used} <= required
    # the layout: inside the 24 columns, and no two panels on the same cell
    cells: dict[tuple[int, int], str] = {}
    for panel in all_panels(dashboard):
        grid = panel["gridPos"]
        assert 0 <= grid["x"] < grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[x, y]}"
                cells[x, y] = panel["title"]


def test_the_launch_variable_lists_the_live_launches_and_is_used() -> None:
    dashboard = load()
    [launch] = [v for v in dashboard["templating"]["list"] if v["name"] == "launch"]
    assert launch["datasource"] == DATASOURCE
    # the picker lists live launches by title; the value it puts in $launch is the id
    assert launch["query"]["query"].replace(" ", "") == "query_result(soldout_launch_info)"
    assert re.fullmatch(r"/.*\(\?<value>.*\(\?<text>.*/", launch["regex"])
    users = [expr for _, expr in expressions(dashboard) if '"$launch"' in expr]
    assert len(users) >= 4  # units, waiting room, admissions...
    assert all('=~"$launch"' in expr for expr in users)  # "All" and several are a regex


def test_quantiles_are_taken_over_buckets_by_le() -> None:
    for where, expr in expressions(load()):
        if "histogram_quantile" in expr:
            assert "_bucket[" in expr, where
            assert re.search(r"by \([^)]*\ble\b", expr), f"{where}: sum by (le) missing"


# -- against a real scrape -------------------------------------------------------------
async def test_every_metric_the_dashboard_names_is_served() -> None:
    dashboard, types = load(), await scraped_types()
    assert unknown_metrics(dashboard, types) == []
    # the rates are of counters (a gauge's rate means nothing), or a histogram's parts
    for where, expr in expressions(dashboard):
        for name in RATED.findall(STRING.sub('""', expr)):
            family = family_of(name, types)
            assert family is not None, f"{where}: {name}"
            assert family[1] in ("counter", "histogram"), f"{where}: rate of {family[1]} {name}"
    # and the sections it promises are all there
    named = {name for _, expr in expressions(dashboard) for name in metrics_in(expr)}
    for family in (
        "soldout_claims_total",
        "soldout_claim_duration_seconds_bucket",
        "soldout_units",
        "soldout_http_requests_total",
        "soldout_group_commit_fsync_seconds_bucket",
        "soldout_store_failed",
        "soldout_waiting_room_fans",
        "soldout_payments_total",
        "soldout_emails_total",
        "soldout_outbox_pending",
        "soldout_sweeper_lag_seconds",
        "soldout_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert family in named, family


async def test_a_misspelt_metric_is_caught() -> None:
    """The check above can fail: a copy with one name misspelt (or a histogram named
    without its `_bucket`) is refused."""
    dashboard, types = load(), await scraped_types()
    for wrong, right in (
        ("soldout_claims_totl", "soldout_claims_total"),
        ("soldout_claim_duration_seconds[", "soldout_claim_duration_seconds_bucket["),
        ("process_resident_memory", "process_resident_memory_bytes"),
    ):
        broken = copy.deepcopy(dashboard)
        target = next(
            target
            for panel in graphs(broken)
            for target in panel["targets"]
            if right in target["expr"]
        )
        target["expr"] = target["expr"].replace(right, wrong)
        assert any(wrong.rstrip("[") in line for line in unknown_metrics(broken, types)), wrong


@dataclass(frozen=True)
class Room:
    waiting: int = 3
    admitted: int = 2
    admitted_total: int = 5
    abandoned_total: int = 1


def test_the_selectors_ask_for_labels_the_metrics_have() -> None:
    """A selector's label names (`{launch=~"$launch", state="held"}`) are among those of
    the family's samples, each family given one figure of every kind it counts."""
    metrics = Metrics()
    metrics.rooms = lambda: {"L1": Room()}
    metrics.emails = lambda: {"sent": 1}
    metrics.sale = lambda: SaleFigures({"L1": "Model One"}, {("L1", "A", "held"): 1}, 0.0)
    metrics.claims.seen("created", 0)
    metrics.payment("test", "authorize", "declined")
    metrics.request("GET", "/healthz", 200, 0.001)
    metrics.outbox.set(0)
    labels: dict[str, set[str]] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    checked = 0
    for where, expr in expressions(load()):
        for name, matchers in SELECTOR.findall(STRING.sub(lambda m: '"x"', expr)):
            if not name.startswith(("soldout_", "process_", "python_")):
                continue
            assert name in labels, f"{where}: {name} has no sample to compare with"
            asked = set(MATCHER.findall(matchers))
            assert asked <= labels[name], f"{where}: {name} has no label {asked - labels[name]}"
            checked += 1
    assert checked >= 8


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum by (code) (rate(soldout_claims_total[5m]))", {"soldout_claims_total"}),
        ("max(soldout_store_failed)", {"soldout_store_failed"}),
        ("a and on (job, instance) soldout_build_info", {"soldout_build_info"}),
        ('label_replace(x, "soldout_not_a_metric", "$1", "s", "(.*)")', set()),
        ("label_values(soldout_units, launch)", {"soldout_units"}),
        ("process_open_fds / process_max_fds", {"process_open_fds", "process_max_fds"}),
    ],
)
def test_metric_names_are_found_in_promql(expr: str, names: set[str]) -> None:
    assert metrics_in(expr) == names
