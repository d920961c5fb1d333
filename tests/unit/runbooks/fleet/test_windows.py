from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runbooks.fleet.windows import (
    estimate_seconds,
    fit_reason,
    icu_estimate,
    icu_history,
    parse_window,
)
from tasks.errors import BadInput

UTC = UTC


def test_weekly_window_in_two_time_zones_differs() -> None:
    ny = parse_window("sat,sun 01:00-05:00", "America/New_York")
    berlin = parse_window(
        {"days": ["sat", "sun"], "start": "01:00", "end": "05:00", "timezone": "Europe/Berlin"}
    )
    now = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # Saturday 03:00 UTC = 04:00 Berlin
    assert berlin.open_now(now) is not None
    assert ny.open_now(now) is None  # 22:00 Friday in New York
    start, end = ny.occurrence(now)  # type: ignore[misc]
    assert start == datetime(2026, 12, 5, 1, 0, tzinfo=ZoneInfo("America/New_York"))
    assert (end - start).total_seconds() == 4 * 3600


def test_window_across_midnight_and_absolute() -> None:
    w = parse_window("fri 22:00-02:00 UTC")
    assert w.open_now(datetime(2026, 12, 5, 1, 0, tzinfo=UTC)) is not None  # Sat 01:00
    a = parse_window("2026-12-05T01:00/2026-12-05T05:00")
    assert a.open_now(datetime(2026, 12, 5, 4, 59, tzinfo=UTC)) is not None
    assert a.occurrence(datetime(2026, 12, 5, 5, 0, tzinfo=UTC)) is None


def test_fit_reasons() -> None:
    w = parse_window("2026-12-05T01:00/2026-12-05T02:00")
    assert fit_reason(w, datetime(2026, 12, 5, 1, 0, tzinfo=UTC), 1800)[0] is None
    reason, _ = fit_reason(w, datetime(2026, 12, 5, 1, 29, tzinfo=UTC), 52 * 60)
    assert reason == "would not fit: needs 52 min, 31 min left"
    reason, _ = fit_reason(w, datetime(2026, 12, 5, 1, 29, tzinfo=UTC), 52 * 60, "the basis")
    assert reason == "would not fit: needs 52 min, 31 min left (the ICU: the basis)"
    reason, wait = fit_reason(w, datetime(2026, 12, 5, 0, 0, tzinfo=UTC), 60)
    assert reason is not None and reason.startswith("window closed (opens") and wait == 3600
    assert fit_reason(w, datetime(2026, 12, 6, tzinfo=UTC), 60)[0] == "window closed"


@pytest.mark.parametrize(
    "spec",
    [
        "xyz 01:00-02:00",
        "sat 1-2-3",
        "sat 01:00-05:00 Mars/Base",
        "2026-12-05T05:00/2026-12-05T01:00",
        "sat",
    ],
)
def test_bad_windows_are_bad_input(spec: str) -> None:
    with pytest.raises(BadInput):
        parse_window(spec)


def test_estimate_is_the_median_of_past_icus_of_the_model(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    lines = []
    for sent, done in ((0, 100), (200, 500), (600, 800)):
        lines.append(f'{{"ts": {sent}, "event": "icu-sending", "model": "SRX345"}}')
        lines.append(f'{{"ts": {done}, "event": "cluster-finished", "outcome": "ok"}}')
    (journal / "c1.jsonl").write_text("\n".join(lines) + "\n")
    history = icu_history(tmp_path)
    assert history == {"SRX345": [100, 300, 200]}
    assert estimate_seconds("SRX345", history, 3600) == 200
    assert estimate_seconds("SRX380", history, 3600) == 3600
    assert icu_estimate("SRX345", history, 3600) == (200, "median of 3 past ICUs of SRX345")
    assert icu_estimate("SRX380", history, 3600) == (3600, "timing.icu_estimate")
