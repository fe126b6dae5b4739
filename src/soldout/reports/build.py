"""Make a launch report: read the record, compute, draw, write the page.

built = build_report("lau_1", "http://127.0.0.1:8000", token, log=Path("run.jsonl"))
built.page  # Path("report-lau_1/index.html")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from soldout.clock import Clock, SystemClock
from soldout.reports.admin_api import AdminApi, ReportError
from soldout.reports.analysis import Analysis, analyse
from soldout.reports.client_log import ClientLog, read_client_log
from soldout.reports.html import Sources, render_page
from soldout.reports.plots import Plot, draw_all

__all__ = ["BuiltReport", "build_report", "default_out_dir"]


@dataclass(frozen=True, slots=True)
class BuiltReport:
    page: Path
    plots: dict[str, Plot]
    analysis: Analysis
    log: ClientLog | None


def default_out_dir(launch_id: str) -> Path:
    return Path("report-" + re.sub(r"[^A-Za-z0-9_.-]", "_", launch_id))


def build_report(
    launch_id: str,
    url: str,
    admin_token: str,
    *,
    log: Path | None = None,
    out: Path | None = None,
    clock: Clock | None = None,
    transport: httpx.BaseTransport | None = None,
) -> BuiltReport:
    """Write `out/index.html` and its charts; raise `ReportError` when it cannot."""
    client_log = _read_log(log) if log is not None else None
    with AdminApi(url, admin_token, transport=transport) as api:
        record = api.launch_record(launch_id)
    analysis = analyse(record, client_log, (clock or SystemClock()).now())
    out = out if out is not None else default_out_dir(launch_id)
    try:
        out.mkdir(parents=True, exist_ok=True)
        plots = draw_all(analysis, out)
        sources = Sources(api.url, log.name if log is not None else None)
        page = out / "index.html"
        page.write_text(render_page(analysis, plots, sources), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report in {out}: {exc.strerror or exc}") from exc
    return BuiltReport(page, plots, analysis, client_log)


def _read_log(path: Path) -> ClientLog:
    try:
        return read_client_log(path)
    except OSError as exc:
        raise ReportError(f"cannot read the client log {path}: {exc.strerror or exc}") from exc
