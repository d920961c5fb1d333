"""The HTML change report (runbooks/output/html_report.py) and its picture of the window
(runbooks/output/window_picture.py): everything escaped, a cluster without timings, 500
clusters, a plan's hops, the md/html switch of `python -m runbooks report`, exit 2 on bad
input before anything is touched, the secrets redacted, --html at a run's end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from runbooks.output.change_report import main
from runbooks.output.html_report import render_html
from runbooks.output.report import ClusterReport, Report
from runbooks.output.window_picture import Row, bar_segments, phase_group, rows_of
from tests.report_factory import synthetic_report
from tests.unit.runbooks.output.test_change_report import REPORT

pytestmark = pytest.mark.unit

HOSTILE = '<script>alert("x")</script>&'


def bars(html: str) -> list[str]:
    """The ids of the picture's bars, in the order drawn."""
    return re.findall(r'<a id="bar-(cluster-\d+)" class="bar" href="#\1">', html)


def test_every_value_is_escaped_in_the_page_and_in_the_picture() -> None:
    report = synthetic_report(3)
    name = next(iter(report["clusters"]))
    entry = report["clusters"].pop(name)
    entry["detail"] = HOSTILE
    entry["checks"][0]["evidence"] = HOSTILE
    entry["timeline"][0]["phase"] = HOSTILE
    report["clusters"][HOSTILE] = entry
    report["job"] = HOSTILE
    html = render_html(report)
    assert "<script" not in html  # no tag from the report, in the page or in the SVG
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;" in html  # Jinja2
    assert '&lt;script&gt;alert("x")&lt;/script&gt;&amp;</text>' in html  # the SVG's label
    assert len(bars(html)) == 3


def test_a_cluster_without_timings_is_in_the_table_not_in_the_picture() -> None:
    html = render_html(REPORT)  # the Markdown tests' report: no cluster has a timeline
    assert html.count("data-cluster=") == 3
    assert "<svg" not in html and "No cluster of this report has timings" in html
    report = synthetic_report(2)
    first = next(iter(report["clusters"].values()))
    first["timeline"] = [{"phase": "connect", "start": "soon", "end": None}]  # unreadable
    html = render_html(report)
    assert len(bars(html)) == 1 and "1 cluster(s) without timings" in html


def test_500_clusters_one_row_a_section_and_a_bar_each_the_picture_growing() -> None:
    report = synthetic_report(500)
    timed = sum(1 for c in report["clusters"].values() if c.get("timeline"))
    html = render_html(report)
    assert html.count("data-cluster=") == 500 and html.count('<details id="cluster-') == 500
    assert len(bars(html)) == timed == 495
    height = float(re.search(r'<svg[^>]* height="([\d.]+)pt"', html).group(1))  # type: ignore[union-attr]
    assert height > 495 * 0.16 * 72  # a row of 0.16 inch per cluster: every name readable
    labels = re.findall(r">(site\d{3}-fw\d)</text>", html)
    assert len(labels) == timed  # each bar named, as text (the browser's find sees it)
    assert len(html) < 4_000_000


def test_bars_are_in_start_order_and_a_step_s_kind_shades_it() -> None:
    rows = rows_of(
        [
            ("cluster-0", "late", {"outcome": "ok", "timeline": [_seg("connect", 50, 60)]}),
            ("cluster-1", "early", {"outcome": "failed", "timeline": [_seg("connect", 0, 5)]}),
            ("cluster-2", "never", {"outcome": "not-started"}),
        ]
    )
    assert [r.name for r in rows] == ["early", "late"]
    row = Row(
        "cluster-0",
        "c",
        "ok",
        [
            ("connect", 0, 1),
            ("pre-checks", 1, 5),
            ("start-icu", 5, 6),
            ("icu secondary-installed", 6, 60),
            ("icu secondary-rebooting", 60, 90),
            ("verify", 90, 95),
            ("recover rollback", 95, 99),
        ],
    )
    assert [g for g, _, _ in bar_segments(row)] == [
        "checks",
        "install",
        "reboots",
        "verify",
        "abort / recover",
    ]
    assert phase_group("something new") == "other"


def test_a_plan_report_shows_each_hop_and_what_it_sends() -> None:
    report: dict[str, Any] = json.loads(json.dumps(REPORT))
    report["clusters"]["c3"]["plan"]["hops"][0].update(
        reason="KB17947: not by ICU", commands=["install <pkg> on node0 and on node1"]
    )
    html = render_html(report)
    assert "<td>dual-reboot</td>" in html and "<td>hand</td>" in html
    assert "<td>KB17947: not by ICU</td>" in html
    assert "<code>install &lt;pkg&gt; on node0 and on node1</code>" in html
    assert "Sent to node0: <code>request system software in-service-upgrade" in html
    assert '<tr class="changed"><td>IPsec tunnels up</td><td>1</td><td>0</td></tr>' in html


def test_format_md_or_html_and_the_file_is_private(tmp_path: Path) -> None:
    source = tmp_path / "r.json"
    source.write_text(json.dumps(synthetic_report(4)))
    md, page = tmp_path / "c.md", tmp_path / "c.html"
    assert main([str(source), "--out", str(md)]) == 0
    assert main([str(source), "--format", "html", "--out", str(page)]) == 0
    assert md.read_text().startswith("# upgrade run")
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert oct(page.stat().st_mode & 0o777) == "0o600"
    assert "http://" not in page.read_text().split("<svg", 1)[0]  # nothing fetched


def test_secrets_are_redacted_in_the_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = synthetic_report(1)
    entry = next(iter(report["clusters"].values()))
    entry["detail"] = "fetched ftp://ops:hunter2@10.0.0.1/junos.tgz; key $9$abcDEF"
    source = tmp_path / "r.json"
    source.write_text(json.dumps(report))
    assert main([str(source), "--format", "html", "--out", str(tmp_path / "c.html")]) == 0
    assert main([str(source), "--format", "html"]) == 0
    for text in ((tmp_path / "c.html").read_text(), capsys.readouterr().out):
        assert "hunter2" not in text and "abcDEF" not in text
        assert "ftp://ops:****@10.0.0.1" in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--format", "pdf"], "error: argument --format: invalid choice: 'pdf'"),
        (["--out", "/nonexistent/dir/c.html"], "error: --out directory not writable"),
        (["--out", "/"], "error: --out is a directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_anything_is_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    missing = tmp_path / "no-such-report.json"  # checked after the flags: never read
    assert main([str(missing), "--format", "html", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_no_report_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "r.json"
    source.write_text(json.dumps({"clusters": {"c1": "ok"}}))
    assert main([str(source), "--format", "html", "--out", str(tmp_path / "c.html")]) == 2
    assert "not a runbooks report" in capsys.readouterr().err
    assert not (tmp_path / "c.html").exists()


def test_html_at_a_run_s_end_and_a_failure_to_write_it_only_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "run.html"
    report = Report(job="upgrade", run_id="r1", html=page)
    report.clusters["c1"] = ClusterReport("ok", "healthy", {}, "done")
    report.write_html()
    assert 'data-cluster="c1"' in page.read_text()
    Report(job="upgrade", run_id="r1").write_html()  # no --html: nothing, no error
    page.unlink()
    page.mkdir()  # the path became a directory during the run
    report.write_html()
    assert capsys.readouterr().err.startswith(f"error: --html {page}: not written")


def _seg(phase: str, start: float, end: float) -> dict[str, Any]:
    return {"phase": phase, "start": 1_800_000_000 + start, "end": 1_800_000_000 + end}
