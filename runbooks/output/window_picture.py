"""The picture of a run's window in the HTML change report: one bar per cluster over time,
split by phase and coloured by outcome, as an inline SVG drawn by matplotlib (no JavaScript,
no font or file fetched: the text stays text, so a browser's find sees the cluster names).

A bar is the cluster's `timeline` in the report (the plan's steps, tasks.state.run_context:
ClusterRun.step_began): each step a segment, its colour the cluster's outcome, lighter or
darker by the kind of step (checks, install, reboots, verify, abort/recover). Rows are in the
order the clusters started, so the waves of a run (canary, in-flight slots) show; the figure
grows with the number of clusters (ROW inches a row), so 500 clusters stay readable, one
labelled row each, the time axis on top and at the bottom."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tasks.vocabulary import GOOD_OUTCOMES

OUTCOME_COLOURS = {
    "ok": "#2e7d32",
    "skipped": "#78909c",
    "would-upgrade": "#1565c0",
    "would-abort": "#1565c0",
    "would-recover": "#1565c0",
    "would-stage": "#1565c0",
    "failed": "#c62828",
    "services-lost": "#ad1457",
    "not-started": "#9e9e9e",
    "refused": "#ef6c00",
    "inconsistent": "#6a1b9a",
    "too-late": "#8d6e63",
    "aborted": "#f9a825",
    "locked": "#455a64",
}
OTHER_COLOUR = "#37474f"

# The kinds of step, in the order a run goes through them, and how each shades the
# outcome's colour: toward white (+) or black (-), by that much.
PHASE_GROUPS: tuple[tuple[str, float], ...] = (
    ("checks", 0.45),
    ("install", 0.0),
    ("reboots", -0.35),
    ("verify", 0.3),
    ("abort / recover", -0.6),
    ("other", 0.75),
)
_INSTALL = ("start-icu", "icu started", "icu secondary-installed", "icu primary-installed")
_VERIFY = ("verify", "services after", "configuration after")


def phase_group(phase: str) -> str:
    """Which kind of step a timeline's phase (a plan step's name) is."""
    if phase in _INSTALL:
        return "install"
    if phase.startswith("icu "):
        return "reboots"  # secondary-rebooting, secondary-back, primary-rebooting, -back
    if phase in _VERIFY:
        return "verify"
    if phase.startswith(("abort", "recover", "rollback")):
        return "abort / recover"
    if phase.startswith(("connect", "observe", "re-observe", "pre-checks", "services before")):
        return "checks"
    if phase in ("configuration before", "align RGs"):
        return "checks"
    return "other"


def shade(colour: str, group: str) -> str:
    amount = dict(PHASE_GROUPS)[group]
    rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    towards = 255 if amount > 0 else 0
    mixed = [round(c + (towards - c) * abs(amount)) for c in rgb]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def colour_of(outcome: str) -> str:
    return OUTCOME_COLOURS.get(outcome, OTHER_COLOUR)


@dataclass(frozen=True)
class Row:
    """One cluster's bar: its anchor in the page, name, outcome and timed segments."""

    anchor: str
    name: str
    outcome: str
    segments: Sequence[tuple[str, float, float]]  # phase, start, end (epoch seconds)


BARS = "window-bars"  # the gid of the collection of every bar
ROW = 0.16  # inches per cluster: a 7-point label each, 500 clusters about 82 inches
WIDTH = 13.0


def rows_of(clusters: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Row]:
    """(anchor, name, report entry) -> the rows that have a timeline, in start order."""
    rows = []
    for anchor, name, entry in clusters:
        segments = segments_of(entry.get("timeline"))
        if segments:
            rows.append(Row(anchor, name, str(entry.get("outcome") or "?"), segments))
    return sorted(rows, key=lambda r: (r.segments[0][1], r.name))


def segments_of(timeline: Any) -> list[tuple[str, float, float]]:
    """A report's timeline as (phase, start, end); what is not a timed step is left out."""
    found = []
    for seg in timeline if isinstance(timeline, list) else []:
        try:
            start, end = float(seg["start"]), float(seg["end"])
        except (TypeError, KeyError, ValueError):
            continue
        if end >= start:
            found.append((str(seg.get("phase") or "?"), start, end))
    return sorted(found, key=lambda s: s[1])


def window_svg(rows: Sequence[Row], started: float | None, finished: float | None) -> str:
    """The picture as an <svg> element (no XML prologue) for the page; '' without rows."""
    if not rows:
        return ""
    import matplotlib  # here: the CLI starts without it; only a report draws

    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text stays text: small, and found by the browser's find
            "svg.hashsalt": "runbooks",  # the same report draws the same picture
            "text.parse_math": False,  # a $ in a cluster name is no formula
            "date.epoch": "1970-01-01T00:00:00",  # _day()
        }
    ):
        fig = _figure(rows, started, finished)
        buf = io.BytesIO()
        fig.canvas.print_figure(buf, format="svg", metadata={"Date": None})
    return _grouped(buf.getvalue(), rows)


def _grouped(svg: bytes, rows: Sequence[Row]) -> str:
    """matplotlib's SVG with the bars' segments split into one group per cluster, <a
    id="bar-ANCHOR" class="bar" href="#ANCHOR">, a link to the cluster's section, with a
    <title> (the browser's tooltip): cluster, outcome, first to last step. The segments are
    in the order _figure drew them, bar_segments(row) for each row."""
    from lxml import etree

    root = etree.fromstring(svg, etree.XMLParser(resolve_entities=False, no_network=True))
    ns = "{http://www.w3.org/2000/svg}"
    bars = root.find(f".//{ns}g[@id='{BARS}']")
    if bars is None:
        raise ValueError("picture: matplotlib drew no bars")
    paths = [el for el in bars if el.tag == f"{ns}path"]
    counts = [len(bar_segments(r)) for r in rows]
    if len(paths) != sum(counts):
        raise ValueError(f"picture: {len(paths)} segments drawn, {sum(counts)} expected")
    at = 0
    for row, count in zip(rows, counts, strict=True):
        attrs = {"id": f"bar-{row.anchor}", "class": "bar", "href": f"#{row.anchor}"}
        group = etree.SubElement(bars, f"{ns}a", attrs)  # a link to the cluster's section
        title = etree.SubElement(group, f"{ns}title")
        first, last = row.segments[0][1], max(e for _, _, e in row.segments)
        title.text = f"{row.name}: {row.outcome}, {when(first)[11:19]}-{when(last)[11:19]} UTC"
        for path in paths[at : at + count]:
            group.append(path)  # moved: lxml takes it out of `bars`
        at += count
    return etree.tostring(root, encoding="unicode")


def bar_segments(row: Row) -> list[tuple[str, float, float]]:
    """The segments drawn for a row: its steps, consecutive steps of one kind as one (a
    pre-check's four steps are one `checks` segment; the timings table has each step)."""
    drawn: list[tuple[str, float, float]] = []
    for phase, start, end in row.segments:
        group = phase_group(phase)
        if drawn and drawn[-1][0] == group and start - drawn[-1][2] < 1.0:
            drawn[-1] = (group, drawn[-1][1], end)
        else:
            drawn.append((group, start, end))
    return drawn


def _figure(rows: Sequence[Row], started: float | None, finished: float | None) -> Any:
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.collections import LineCollection, PolyCollection
    from matplotlib.figure import Figure

    top, bottom = 0.95, 0.7  # inches: the legend and the time axis above, the axis below
    height = top + bottom + ROW * len(rows)
    label_size = 7 if len(rows) > 60 else 8
    longest = max(len(r.name) for r in rows)
    left = min(0.3 + longest * label_size * 0.6 / 72, 4.0)  # the names' width, in inches
    fig = Figure(figsize=(WIDTH, height))
    FigureCanvasSVG(fig)
    fig.subplots_adjust(
        left=left / WIDTH, right=1 - 0.3 / WIDTH, top=1 - top / height, bottom=bottom / height
    )
    ax = fig.add_subplot()
    first, last = extent(rows, started, finished)
    least = (last - first) * 0.004  # a bar of a few seconds in a window of hours: visible
    boxes, faces, spans = [], [], []
    for i, row in enumerate(rows):
        colour = colour_of(row.outcome)
        drawn = bar_segments(row)
        if drawn[-1][2] - drawn[0][1] < least:
            drawn[-1] = (drawn[-1][0], drawn[-1][1], drawn[0][1] + least)
        spans.append([(_day(drawn[0][1]), i), (_day(drawn[-1][2]), i)])
        boxes += [_box(_day(s), _day(e), i) for _, s, e in drawn]
        faces += [shade(colour, g) for g, _, _ in drawn]
        ax.text(
            -0.004,
            i,
            row.name,
            transform=ax.get_yaxis_transform(),  # x: the axes' left edge; y: the row
            ha="right",
            va="center",
            fontsize=label_size,
            color="#212121" if row.outcome in GOOD_OUTCOMES else colour,  # a failure stands out
        )
    # One collection for every bar (one per cluster draws 100 times slower); split into a
    # group per cluster afterwards (_grouped).
    bars = PolyCollection(boxes, facecolors=faces, edgecolors="white", linewidths=0.3)
    bars.set_gid(BARS)
    bars.set_clip_on(False)  # inside the axes anyway: no clip-path on every segment
    ax.add_collection(bars, autolim=False)
    lines = LineCollection(spans, colors=[colour_of(r.outcome) for r in rows], linewidths=0.6)
    ax.add_collection(lines, autolim=False)
    _axes(ax, rows, (first, last), (started, finished))
    return fig


def extent(
    rows: Sequence[Row], started: float | None, finished: float | None
) -> tuple[float, float]:
    """The time the picture spans: every step, and the run's start and end."""
    moments = [m for m in (started, finished) if m is not None]
    first = min([r.segments[0][1] for r in rows] + moments)
    last = max([e for r in rows for _, _, e in r.segments] + moments)
    return first, last


def _box(x0: float, x1: float, y: int) -> list[tuple[float, float]]:
    return [(x0, y - 0.38), (x0, y + 0.38), (x1, y + 0.38), (x1, y - 0.38)]


def _axes(
    ax: Any,
    rows: Sequence[Row],
    span: tuple[float, float],
    run: tuple[float | None, float | None],
) -> None:
    from matplotlib import dates
    from matplotlib.patches import Patch

    first, last = span
    for moment in run:
        if moment is not None:
            ax.axvline(_day(moment), color="#546e7a", linewidth=0.8, linestyle="--", zorder=0)
    pad = max(last - first, 60.0) * 0.01
    ax.set_xlim(_day(first - pad), _day(last + pad))
    ax.set_ylim(len(rows) - 0.5, -0.5)  # the first to start on top
    ax.set_yticks([])  # the names are texts of their own: 500 ticks draw slowly
    ax.xaxis_date(tz=UTC)
    locator = dates.AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=UTC))
    ax.tick_params(axis="x", labeltop=True, top=True, labelsize=8)
    ax.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_xlabel("time (UTC); dashed: the run's start and end", fontsize=8)
    present = sorted({r.outcome for r in rows})
    handles = [Patch(facecolor=colour_of(o), label=o) for o in present]
    handles += [Patch(facecolor=shade("#607d8b", g), label=g) for g, _ in PHASE_GROUPS]
    ax.figure.legend(
        handles=handles,
        loc="upper center",
        ncols=min(len(handles), 10),
        fontsize=8,
        frameon=False,
        title="outcome (colour); kind of step (shade, shown here on grey)",
        title_fontsize=8,
    )


def _day(epoch: float) -> float:
    """Epoch seconds as matplotlib's date number (days since its epoch, 1970 by default)."""
    return epoch / 86400.0


def when(epoch: float | None) -> str:
    """Epoch seconds as the page shows a time: 2026-12-07 10:10:10 UTC."""
    if epoch is None:
        return "?"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
