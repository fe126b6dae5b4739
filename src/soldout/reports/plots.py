"""The report's charts as PNG files, drawn with matplotlib's Agg renderer (no display, no
network), each with the alt text that says what it shows in words.

    plots = draw_all(analysis, out_dir)  # {"units": Plot(...), ...}: only charts with data
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatter, MaxNLocator

from soldout.reports.analysis import Analysis, ClientSide
from soldout.reports.fairness import ArrivalRate, WinRate
from soldout.reports.funnel import FunnelStep
from soldout.reports.text import seconds, share

__all__ = ["HEIGHT", "WIDTH", "Plot", "draw_all"]

DPI = 100
WIDTH, HEIGHT = 800, 400  # pixels of every chart
LABELLED_BARS = 30  # up to this many bars carry their counts
ALT_BUCKETS = 20  # arrival buckets named in an alt text; the table has them all
# Okabe-Ito: told apart with every common colour-vision deficiency.
BLUE, ORANGE, VERMILION, GREY = "#0072B2", "#E69F00", "#D55E00", "#666666"
TIME_AXIS = "seconds since the sale opened"


@dataclass(frozen=True, slots=True)
class Plot:
    file: str
    alt: str
    width: int = WIDTH
    height: int = HEIGHT


def draw_all(analysis: Analysis, out: Path) -> dict[str, Plot]:
    plots: dict[str, Plot] = {}
    if analysis.units:
        plots["units"] = _units(analysis, out)
    if any(step.fans for step in analysis.funnel):
        plots["funnel"] = _funnel(analysis.funnel, out)
    client = analysis.client
    if client is not None and client.traffic:
        plots["requests"] = _requests(client, out)
        if any(b.p50 is not None for b in client.traffic):
            plots["latency"] = _latency(client, out)
    if client is not None and client.by_actor:
        plots["by_actor"] = _by_actor(client.by_actor, out)
        plots["by_arrival"] = _by_arrival(client.by_arrival, client.arrival_width, out)
    return plots


def _figure(rows: int = 1) -> tuple[Figure, list[Axes]]:
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 1, sharex=True, squeeze=False)
    for ax in axes[:, 0]:
        ax.grid(True, color="#dddddd", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return figure, list(axes[:, 0])


def _save(figure: Figure, out: Path, name: str, alt: str) -> Plot:
    file = f"{name}.png"
    figure.savefig(out / file, format="png", dpi=DPI, metadata={"Software": None})
    return Plot(file, alt)


def _legend(ax: Axes) -> None:
    """Beside the plot, where it hides no data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _counts(ax: Axes, axis: str = "y") -> None:
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_locator(MaxNLocator(integer=True))


def _units(a: Analysis, out: Path) -> Plot:
    points = a.units
    last = points[-1]
    xs = [min(0.0, points[0].at)] + [p.at for p in points]
    xs.append(max(last.at * 1.05, last.at + 1))  # the last state lasts until now
    held = [0] + [p.held for p in points] + [last.held]
    paid = [0] + [p.paid for p in points] + [last.paid]
    figure, (ax,) = _figure()
    ax.step(xs, paid, where="post", color=BLUE, linewidth=2.2, label="paid")
    ax.step(xs, held, where="post", color=ORANGE, linewidth=2, linestyle="--", label="held")
    if a.open_units:
        ax.axhline(a.open_units, color=GREY, linestyle=":", label=f"open units ({a.open_units})")
    if a.sold_out_at is not None:
        ax.axvline(a.sold_out_at, color=VERMILION, linewidth=1.5, label="sold out")
    ax.set_title("Units held and paid")
    ax.set_xlabel(TIME_AXIS)
    ax.set_ylabel("units")
    ax.set_ylim(0, max(a.open_units, *held, *paid) * 1.15 + 0.5)
    _counts(ax)
    _legend(ax)
    peak = max(points, key=lambda p: p.held)
    ending = (
        f"they were all taken at {seconds(a.sold_out_at)} (sold out)."
        if a.sold_out_at is not None
        else "they were never all taken at once (did not sell out)."
    )
    alt = (
        f"Step chart of units over time since the sale opened. Paid units rise to "
        f"{last.paid}; held units peak at {peak.held} at {seconds(peak.at)} and end at "
        f"{last.held}. {a.open_units} units were open to everyone; {ending}"
    )
    return _save(figure, out, "units", alt)


def _funnel(steps: Sequence[FunnelStep], out: Path) -> Plot:
    known = [s for s in steps if s.fans is not None]
    figure, (ax,) = _figure()
    bars = ax.barh([s.name for s in known][::-1], [s.fans or 0 for s in known][::-1], color=BLUE)
    ax.bar_label(bars, padding=3)
    ax.set_title("Funnel: fans at each step")
    ax.set_xlabel("fans")
    ax.grid(False, axis="y")
    ax.margins(x=0.1)
    _counts(ax, "x")
    named = ", ".join(f"{s.name} {s.fans}" for s in known)
    return _save(figure, out, "funnel", f"Horizontal bar chart of the funnel: {named} fans.")


def _requests(c: ClientSide, out: Path) -> Plot:
    bins, width = c.traffic, c.traffic_width
    figure, (ax,) = _figure()
    starts, rates = [b.start for b in bins], [b.per_second for b in bins]
    ax.bar(starts, rates, width=width, align="edge", color=BLUE, edgecolor="white", linewidth=0.5)
    ax.set_title(f"Requests per second (client log, {width} s bins)")
    ax.set_xlabel(TIME_AXIS)
    ax.set_ylabel("requests / s")
    top = max(bins, key=lambda b: b.per_second)
    alt = (
        f"Bar chart of requests per second in {width}-second bins, from "
        f"{seconds(bins[0].start)} to {seconds(bins[-1].start + width)}: "
        f"{c.requests} requests, peaking at {top.per_second:g} per second at "
        f"{seconds(top.start)}."
    )
    return _save(figure, out, "requests", alt)


def _latency(c: ClientSide, out: Path) -> Plot:
    bins = [b for b in c.traffic if b.p50 is not None]
    xs = [b.start + c.traffic_width / 2 for b in bins]
    figure, (ax,) = _figure()
    lines = ((BLUE, "-", "o", "p50"), (ORANGE, "--", "s", "p95"), (VERMILION, ":", "^", "p99"))
    for colour, style, marker, name in lines:
        ys = [getattr(b, name) for b in bins]
        ax.plot(xs, ys, color=colour, linestyle=style, marker=marker, markersize=5, label=name)
    p50s = [b.p50 or 0 for b in bins]
    worst = max(bins, key=lambda b: b.p99 or 0)
    highest = worst.p99 or 0
    if min(p50s) > 0 and highest / min(p50s) > 20:
        ax.set_yscale("log")
        for axis_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
            axis_formatter(LogFormatter(labelOnlyBase=False))  # "200", not "2 x 10^2"
    ax.set_title(f"Latency percentiles (client log, {c.traffic_width} s bins)")
    ax.set_xlabel(TIME_AXIS)
    ax.set_ylabel("milliseconds")
    ax.set_ylim(bottom=0 if ax.get_yscale() == "linear" else None)
    _legend(ax)
    alt = (
        f"Line chart of latency percentiles per {c.traffic_width}-second bin: p50 between "
        f"{min(p50s):.0f} and {max(p50s):.0f} ms; p99 peaks at {highest:.0f} ms at "
        f"{seconds(worst.start)}."
    )
    return _save(figure, out, "latency", alt)


def _by_actor(rates: Sequence[WinRate], out: Path) -> Plot:
    figure, (ax,) = _figure()
    colours = {"fan": BLUE, "bot": VERMILION}
    bars = ax.bar(
        [r.actor for r in rates],
        [100 * (r.rate or 0) for r in rates],
        color=[colours.get(r.actor, GREY) for r in rates],
        width=0.5,
    )
    ax.bar_label(bars, [f"{r.winners} of {r.fans} won" for r in rates], padding=3)
    ax.set_ylim(0, 115)
    ax.set_yticks([0, 20, 40, 60, 80, 100])
    ax.set_title("Win rate by actor (client log)")
    ax.set_ylabel("clients who got a unit (%)")
    ax.grid(False, axis="x")
    named = "; ".join(
        f"{r.actor}: {share(r.winners, r.fans)} ({r.winners} of {r.fans})" for r in rates
    )
    return _save(figure, out, "by_actor", f"Bar chart of the win rate by actor: {named}.")


def _by_arrival(rates: Sequence[ArrivalRate], width: int, out: Path) -> Plot:
    figure, (top, bottom) = _figure(rows=2)
    starts = [r.start for r in rates]
    top.bar(starts, [r.fans for r in rates], width=width * 0.9, align="edge", color=GREY)
    top.set_ylabel("fans arriving")
    top.set_title(f"Win rate by arrival ({width} s buckets, client log)")
    _counts(top)
    won = [100 * (r.rate or 0) for r in rates]
    bars = bottom.bar(starts, won, width=width * 0.9, align="edge", color=BLUE)
    if len(rates) <= LABELLED_BARS:
        bottom.bar_label(bars, [f"{r.winners}/{r.fans}" for r in rates], padding=2, fontsize=8)
    bottom.set_ylim(0, 125)
    bottom.set_yticks([0, 25, 50, 75, 100])
    bottom.set_ylabel("won (%)")
    bottom.set_xlabel("first request, " + TIME_AXIS)
    named = "; ".join(
        f"from {seconds(r.start)}, {r.winners} of {r.fans} won" for r in rates[:ALT_BUCKETS]
    )
    more = len(rates) - ALT_BUCKETS
    alt = (
        f"Two bar charts by arrival in {width}-second buckets (fans arriving, and the share "
        f"who got a unit): {named}"
        + (f"; and {more} later buckets (see the table)." if more > 0 else ".")
    )
    return _save(figure, out, "by_arrival", alt)
