"""`plan` against the lab: each cluster's hops read from what it runs, nothing sent."""

from __future__ import annotations

from typing import Any

from tests import warm_processes
from tests.browser import chromium, load
from tests.e2e.conftest import destructive
from tests.e2e.test_html_report_e2e import assert_bars_drawn, assert_opens_clean, page_facts

PKG_244 = "/var/tmp/junos-srxsme-24.4R1.9.tgz"


def test_plan_reads_the_running_release_and_sends_nothing(make_lab: Any, runbooks_for: Any) -> None:
    # GIVEN SRX345 clusters: one for a plain ICU, two going across 24.4R1 (one with a 24.4R1
    # build named in its inventory, one without), one already on its target, one unhealthy
    lab = make_lab(
        [
            {"name": "plain"},
            {"name": "across", "target": "25.2R1.9", "data": {"packages": {"24.4R1.9": PKG_244}}},
            {"name": "no-via", "target": "25.2R1.9"},
            {"name": "there", "release": "24.2R2-S1.3"},
            {"name": "split", "state": "inconsistent"},
        ]
    )
    # WHEN the fleet is planned, with the change report as HTML too
    ops = runbooks_for(lab)
    page = ops.workdir / "plan.html"
    result = ops.run("plan", "--html", str(page))
    c = result.report["clusters"]
    # THEN each cluster's plan is what its running release allows, and nothing was sent
    assert c["plain"]["outcome"] == "ok", c["plain"]
    hops = c["plain"]["plan"]["hops"]
    assert [(h["to"], h["method"], h["automated"]) for h in hops] == [("24.2R2-S1.3", "icu", True)]
    assert (
        "in-service-upgrade /var/tmp/junos-srxsme-24.2R2-S1.3.tgz no-sync" in hops[0]["commands"][0]
    )
    across = c["across"]["plan"]["hops"]
    assert [(h["to"], h["method"]) for h in across] == [
        ("24.4R1.9", "dual-reboot"),
        ("25.2R1.9", "icu"),
    ]
    assert c["across"]["outcome"] == "ok" and "--allow-outage" in c["across"]["detail"]
    assert "request system software add " + PKG_244 + " no-copy" in across[0]["commands"][0]
    assert "name a 24.4R1 build" in c["no-via"]["detail"], c["no-via"]
    assert c["there"]["outcome"] == "skipped", c["there"]
    assert c["split"]["outcome"] == "refused" and "inconsistent" in c["split"]["detail"]
    assert result.code == 1
    assert destructive(lab.audit()) == []
    # and the page shows each plan's hops
    html = page.read_text()
    assert "<td>dual-reboot</td>" in html and "<td>upgrade</td>" in html  # both carried out
    assert "<td>hand</td>" not in html
    assert all(f'data-cluster="{name}"' in html for name in c)


def test_a_run_s_report_becomes_a_change_report(make_lab: Any, runbooks_for: Any) -> None:
    import sys

    # GIVEN an upgrade run on the lab, asked for the HTML change report too: one cluster
    # upgraded, one refused by the device
    lab = make_lab([{"name": "good"}, {"name": "bad", "faults": ["validation-fails"]}], speed=300)
    ops = runbooks_for(lab)
    page = ops.workdir / "change.html"
    run = ops.run("upgrade", "--yes", "--html", str(page))
    # WHEN its report is turned into Markdown, as the docs say
    out = run.report_path.with_name("change.md")
    cmd = [sys.executable, "-m", "runbooks", "report", str(run.report_path), "--out", str(out)]
    done = warm_processes.run(cmd, capture_output=True, text=True, timeout=60)
    # THEN every cluster is there with its outcome, pre-checks, command and services
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert f"# upgrade run {run.report['run_id']}" in text
    assert "| good | `ok` |" in text and "| bad | `failed` |" in text
    assert "| path-rules | yes |" in text and "| interfaces up |" in text
    assert "in-service-upgrade /var/tmp/junos-srxsme-24.2R2-S1.3.tgz no-sync`" in text
    # and the run's own HTML page opens in chromium from the file alone: both clusters, a
    # bar each in the picture (their steps timed by the run), the ICU's phases among them
    assert {s["phase"] for s in run.cluster("good")["timeline"]} >= {"connect", "verify"}
    with chromium() as browser:
        loaded = load(browser, page)
        facts = page_facts(loaded)
        assert_opens_clean(loaded)
    assert facts["rows"] == ["bad", "good"] and facts["sections"] == 2
    assert_bars_drawn(facts, ["bad", "good"])
