"""The HTML change report in a real browser (Debian's chromium, headless, tests/browser.py):
a 200-cluster report made by `python -m runbooks report --format html` opens from the file
alone (no request beyond it, no console error), every cluster is in the page, and the
picture of the window is drawn: one bar per cluster that has timings, each of non-zero size.
The report of a real run against the lab is opened the same way in tests/e2e/test_plan_e2e.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests import warm_processes
from tests.browser import Loaded, chromium, load
from tests.report_factory import synthetic_report

ROOT = Path(__file__).resolve().parents[2]

BARS_JS = """() => Array.from(document.querySelectorAll('#window-picture svg .bar')).map(g => {
  const box = g.getBBox();
  const target = document.getElementById((g.getAttribute('href') || '').slice(1));
  return {id: g.id, width: box.width, height: box.height,
          links_to: target ? target.tagName.toLowerCase() : null,
          title: g.querySelector('title') ? g.querySelector('title').textContent : ''};
})"""
IDS_JS = "() => Array.from(document.querySelectorAll('[id]')).map(e => e.id)"


def page_facts(loaded: Loaded) -> dict[str, Any]:
    """What the page holds, read from its DOM."""
    page = loaded.page
    svg = page.locator("#window-picture svg")
    box = svg.bounding_box() if svg.count() == 1 else None
    return {
        "rows": page.eval_on_selector_all(
            "#cluster-table tr[data-cluster]", "rows => rows.map(r => r.dataset.cluster)"
        ),
        "sections": page.eval_on_selector_all("details[id^=cluster-]", "els => els.length"),
        "svg_box": box,
        "bars": page.evaluate(BARS_JS),
        "ids": page.evaluate(IDS_JS),
    }


def assert_opens_clean(loaded: Loaded) -> None:
    assert loaded.console_errors == []
    assert loaded.page_errors == []
    assert loaded.foreign_requests == []  # nothing fetched: no CDN, no font, no image


def assert_bars_drawn(facts: dict[str, Any], clusters: list[str]) -> None:
    """A bar per cluster named, each of non-zero size, each a link to its section."""
    bars = facts["bars"]
    assert sorted(b["title"].split(":")[0] for b in bars) == sorted(clusters)
    assert all(b["width"] > 0 and b["height"] > 0 for b in bars), bars
    assert all(b["links_to"] == "details" for b in bars), bars
    assert len(facts["ids"]) == len(set(facts["ids"]))  # no id twice in the page


def test_a_200_cluster_report_opens_offline_with_every_cluster_and_its_bar(tmp_path: Path) -> None:
    # GIVEN the JSON report of a 200-cluster upgrade (2 never started: no timings)
    report = synthetic_report(200)
    source, page = tmp_path / "upgrade.json", tmp_path / "change.html"
    source.write_text(json.dumps(report))
    timed = sorted(n for n, c in report["clusters"].items() if c.get("timeline"))
    assert len(timed) == 198
    # WHEN it is turned into HTML as the docs say, and opened in chromium
    cmd = [sys.executable, "-m", "runbooks", "report", str(source), "--format", "html"]
    done = warm_processes.run(
        [*cmd, "--out", str(page)], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    with chromium() as browser:
        loaded = load(browser, page)
        facts = page_facts(loaded)
        assert_opens_clean(loaded)
    # THEN every cluster is a row and a section, and the picture has a bar per timed cluster
    assert facts["rows"] == sorted(report["clusters"])
    assert facts["sections"] == 200
    assert facts["svg_box"] and facts["svg_box"]["width"] > 800
    assert facts["svg_box"]["height"] > 198 * 10  # a row of at least 10 px per cluster
    assert_bars_drawn(facts, timed)
