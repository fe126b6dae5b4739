"""The report page: one self-contained HTML file (no script, no external asset) from the
Jinja2 template shipped in this package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import jinja2

from soldout.reports.analysis import Analysis
from soldout.reports.plots import Plot
from soldout.reports.text import count, money, percent, seconds, share

__all__ = ["Sources", "render_page"]

SKIPPED_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the figures came from, as the page names them."""

    server_url: str
    client_log: str | None  # the log's file name, or None: server-side only


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("soldout.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, percent=percent, seconds=seconds)
    env.globals.update(share=share, count=count)
    return env


def render_page(analysis: Analysis, plots: dict[str, Plot], sources: Sources) -> str:
    opens = analysis.launch.sale_opens_at
    sold_out_time = (
        opens + timedelta(seconds=analysis.sold_out_at)
        if analysis.sold_out_at is not None
        else None
    )
    template = _environment().get_template("report.html.j2")
    return template.render(
        a=analysis,
        c=analysis.client,
        plots=plots,
        sources=sources,
        sold_out_time=sold_out_time,
        skipped_shown=SKIPPED_SHOWN,
    )
