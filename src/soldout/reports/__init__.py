"""Launch reports: the server's record (and a rehearsal's client log) as one HTML page
with charts. `soldout report LAUNCH_ID --url URL --admin-token TOKEN [--log FILE]`.

    from soldout.reports import build_report
    build_report("lau_1", "http://127.0.0.1:8000", token, log=Path("run.jsonl")).page

Layers: `admin_api` and `client_log` read (into `records`); `timeline`, `traffic`,
`funnel` and `fairness` compute (pure); `analysis` puts them together; `plots` and
`html` draw and write; `build` runs the whole; `command` is the CLI. The names below are
loaded on first use, so importing the command does not load matplotlib.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from soldout.reports.admin_api import ReportError
    from soldout.reports.build import BuiltReport, build_report

__all__ = ["BuiltReport", "ReportError", "build_report"]


def __getattr__(name: str) -> Any:
    if name == "ReportError":
        from soldout.reports.admin_api import ReportError

        return ReportError
    if name in ("BuiltReport", "build_report"):
        from soldout.reports import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
