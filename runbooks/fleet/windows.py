"""Maintenance windows: when a cluster may start, and whether its upgrade fits before the end.

Two forms, from the command line (`--window`) or inventory data (`window:`, inherited from
groups, so a site group can carry its own):

- absolute: `2026-12-05T01:00/2026-12-05T05:00` (an ISO offset may be given; naive times are
  in the cluster's `timezone`, else UTC)
- weekly: `sat,sun 01:00-05:00 Europe/Berlin` (time zone optional: the cluster's
  `timezone`, else UTC); a window whose end is not after its start ends the next day.

Inventory may also give the weekly form as a mapping:
`window: {days: [sat, sun], start: "01:00", end: "05:00", timezone: Europe/Berlin}`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tasks.errors import BadInput
from tasks.state.journal import read_records

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    text: str
    start: datetime | None = None  # absolute window
    end: datetime | None = None
    days: frozenset[int] = frozenset()  # weekly window: weekday numbers, Monday 0
    start_time: time | None = None
    end_time: time | None = None
    tz: ZoneInfo | timezone = UTC
    zoned: bool = False  # the spec named its own zone/offset (else: the cluster's timezone)

    def occurrence(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The window occurrence containing `now`, else the next one (None: never again)."""
        if self.start is not None and self.end is not None:
            if now < self.end:
                return self.start, self.end
            return None
        assert self.start_time is not None and self.end_time is not None
        local = now.astimezone(self.tz)
        for offset in range(-1, 8):
            day = (local + timedelta(days=offset)).date()
            if day.weekday() not in self.days:
                continue
            begin = datetime.combine(day, self.start_time, self.tz)
            finish = datetime.combine(day, self.end_time, self.tz)
            if finish <= begin:
                finish += timedelta(days=1)
            if now < finish:
                return begin, finish
        return None

    def open_now(self, now: datetime) -> tuple[datetime, datetime] | None:
        occ = self.occurrence(now)
        return occ if occ and occ[0] <= now < occ[1] else None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # "America" is a directory
        raise BadInput(f"unknown time zone: {name!r}") from None


def _hhmm(text: str) -> time:
    try:
        return time.fromisoformat(text if len(text) > 2 else f"{text}:00")
    except ValueError:
        raise BadInput(f"window time must be HH:MM: {text!r}") from None


def parse_window(spec: Any, default_tz: str | None = None) -> Window:
    """A window from a --window string or inventory data; BadInput with one line if wrong."""
    tz: ZoneInfo | timezone = _zone(default_tz) if default_tz else UTC
    if isinstance(spec, dict):
        days = spec.get("days") or list(DAYS)
        if isinstance(days, str):
            days = days.split(",")
        text = f"{','.join(days)} {spec.get('start')}-{spec.get('end')}"
        if spec.get("timezone"):
            text += f" {spec['timezone']}"
        return parse_window(text, default_tz)
    if not isinstance(spec, str) or not spec.strip():
        raise BadInput(f"window must be a string or mapping: {spec!r}")
    text = spec.strip()
    if "/" in text and "T" in text:
        first, _, second = text.partition("/")
        try:
            start, end = datetime.fromisoformat(first), datetime.fromisoformat(second)
        except ValueError:
            raise BadInput(f"window must be START/END in ISO 8601: {text!r}") from None
        zoned = start.tzinfo is not None and end.tzinfo is not None
        start = start if start.tzinfo else start.replace(tzinfo=tz)
        end = end if end.tzinfo else end.replace(tzinfo=tz)
        if end <= start:
            raise BadInput(f"window ends before it starts: {text!r}")
        return Window(text=text, start=start, end=end, tz=tz, zoned=zoned)
    parts = text.split()
    if len(parts) not in (2, 3):
        raise BadInput(f"window must be 'days HH:MM-HH:MM [Zone]': {text!r}")
    day_names = [d.strip().lower()[:3] for d in parts[0].split(",") if d.strip()]
    if parts[0].lower() in ("daily", "all", "*"):
        day_names = list(DAYS)
    bad = [d for d in day_names if d not in DAYS]
    if bad or not day_names:
        raise BadInput(f"window days must be mon..sun: {parts[0]!r}")
    start_text, sep, end_text = parts[1].partition("-")
    if not sep:
        raise BadInput(f"window hours must be HH:MM-HH:MM: {parts[1]!r}")
    if len(parts) == 3:
        tz = _zone(parts[2])
    return Window(
        text=text,
        days=frozenset(DAYS.index(d) for d in day_names),
        start_time=_hhmm(start_text),
        end_time=_hhmm(end_text),
        tz=tz,
        zoned=len(parts) == 3,
    )


def icu_history(state_dir: Path) -> dict[str, list[float]]:
    """Seconds from ICU sent to verified ok, per model, from every cluster's journal."""
    out: dict[str, list[float]] = {}
    journal = state_dir / "journal"
    if not journal.is_dir():
        return out
    for path in journal.glob("*.jsonl"):
        for model, seconds, _ in icu_durations(read_records(path)):
            out.setdefault(model, []).append(seconds)
    return out


def icu_durations(records: list[dict[str, Any]]) -> list[tuple[str, float, str]]:
    """(model, seconds from ICU sent to verified ok, run id of the end) in one cluster's
    journal records."""
    out = []
    sent: dict[str, Any] | None = None
    for rec in records:
        if rec.get("event") == "icu-sending":
            sent = rec
        elif rec.get("event") == "cluster-finished" and sent is not None:
            if rec.get("outcome") == "ok" and sent.get("model"):
                out.append((str(sent["model"]), rec["ts"] - sent["ts"], str(rec.get("run_id"))))
            sent = None
    return out


def estimate_seconds(model: str, history: dict[str, list[float]], default: float) -> float:
    """Median of past ICUs of this model, else the default."""
    return icu_estimate(model, history, default)[0]


def icu_estimate(model: str, history: dict[str, list[float]], default: float) -> tuple[float, str]:
    """(median of past ICUs of this model, else the default; where the figure comes from)."""
    past = history.get(model)
    if past:
        return statistics.median(past), f"median of {len(past)} past ICUs of {model}"
    return default, "timing.icu_estimate"


def fit_reason(
    window: Window, now: datetime, needed: float, basis: str = ""
) -> tuple[str | None, float]:
    """(why the cluster may not start now, seconds until the window next opens). `basis`:
    where `needed` comes from, named in a refusal. Before the cluster is observed its plan is
    not known: `needed` is its ICU's; a way with a dual reboot is judged again, whole, once
    observed (tasks/plans/estimates.py)."""
    occ = window.occurrence(now)
    if occ is None:
        return "window closed", float("inf")
    start, end = occ
    if now < start:
        return f"window closed (opens {start.isoformat(timespec='minutes')})", (
            start - now
        ).total_seconds()
    left = (end - now).total_seconds()
    if needed > left:
        said = f" (the ICU: {basis})" if basis else ""
        return (
            f"would not fit: needs {_minutes(needed)}, {_minutes(left)} left{said}",
            (end - now).total_seconds() + 1,
        )
    return None, 0.0


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
