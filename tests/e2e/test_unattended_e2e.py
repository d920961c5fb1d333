"""Unattended and scheduled runs: maintenance windows, time zones, locks between processes,
runs without a terminal, and re-running what failed from a report."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from tests.e2e.conftest import destructive, icu_sends, kill_group, wait_until

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
ICU, ABORT = "request-package-in-service-upgrade", "abort-in-service-upgrade"


def set_host_data(lab: Any, **per_cluster: dict[str, Any]) -> None:
    """Add inventory data to some clusters of the lab's generated hosts.yaml."""
    path = lab.inventory_dir / "hosts.yaml"
    hosts = yaml.safe_load(path.read_text())
    for name, data in per_cluster.items():
        hosts[name]["data"].update(data)
    path.write_text(yaml.safe_dump(hosts, sort_keys=False))


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def releases(lab: Any, cluster: str) -> set[str]:
    return {n["release"] for n in lab.state()["clusters"][cluster]["nodes"].values()}


def test_windows_by_cluster_and_time_zone(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN clusters whose inventory windows differ: open, not yet open, too short for an
    # ICU, and the same weekly window in two time zones ten hours apart
    lab = make_lab([{"name": n} for n in ("open", "later", "short", "east", "west")])
    now = datetime.now(UTC)
    east = now.astimezone(ZoneInfo("Etc/GMT-5"))  # UTC+5
    weekly = f"daily {(east - timedelta(hours=1)):%H:%M}-{(east + timedelta(hours=1)):%H:%M}"
    set_host_data(
        lab,
        open={"window": f"{iso(now - timedelta(hours=1))}/{iso(now + timedelta(hours=1))}"},
        later={"window": f"{iso(now + timedelta(hours=2))}/{iso(now + timedelta(hours=3))}"},
        short={
            "window": f"{iso(now - timedelta(hours=1))}/{iso(now + timedelta(minutes=30))}",
            "timing": {"icu_estimate": 3600},
        },
        east={"window": weekly, "timezone": "Etc/GMT-5"},
        west={"window": weekly, "timezone": "Etc/GMT+5"},
    )
    # WHEN the fleet upgrade runs
    result = runbooks_for(lab).run("upgrade", "--yes")
    # THEN only the clusters inside their window, with time for an ICU, were started
    outcomes = {n: c["outcome"] for n, c in result.report["clusters"].items()}
    assert outcomes == {
        "open": "ok",
        "east": "ok",
        "later": "not-started",
        "short": "not-started",
        "west": "not-started",
    }, result.report
    assert "window closed (opens" in result.cluster("later")["detail"]
    # the window is 30 min from the run's start: a start slowed by load may see 29 left
    detail = result.cluster("short")["detail"]
    assert re.search(r"would not fit: needs 60 min, (29|30) min left", detail), detail
    assert "window closed (opens" in result.cluster("west")["detail"]
    assert result.code == 1
    started = {r["cluster"] for r in destructive(lab.audit())}
    assert started == {"open", "east"}


def _window_ending_in(seconds: float) -> str:
    now = datetime.now(UTC)
    return f"{iso(now - timedelta(minutes=5))}/{(now + timedelta(seconds=seconds)).isoformat()}"


def test_at_window_end_abort_leaves_every_in_flight_cluster_consistent(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for
) -> None:
    # GIVEN ICUs of ~20 s (speed 150) and a window that closes a few seconds after they start
    lab = make_lab([{"name": "c1"}, {"name": "c2"}], speed=150)
    set_host_data(lab, c1={"timing": {"icu_estimate": 1}}, c2={"timing": {"icu_estimate": 1}})
    # WHEN the upgrade runs with --at-window-end abort
    result = runbooks_for(lab).run(
        "upgrade", "--window", _window_ending_in(8), "--at-window-end", "abort"
    )
    # THEN each ICU was aborted on its RG0 primary and the cluster verified consistent and healthy
    assert result.code == 1
    audit = lab.audit()
    for name in ("c1", "c2"):
        c = result.cluster(name)
        assert c["outcome"] == "aborted", c
        assert c["state"] == "healthy" and "maintenance window ended" in c["detail"]
        assert releases(lab, name) == {OLD}
        mine = [(r["node"], r["rpc"]) for r in destructive(audit) if r["cluster"] == name]
        assert mine[:2] == [("node0", ICU), ("node0", ABORT)]


def test_at_window_end_finish_lets_in_flight_clusters_complete(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # ICUs of ~20 s (speed 150); the window leaves 12 s to send them (a loaded CI host needs
    # several seconds to start the run and pass the pre-checks) and closes while they run
    lab = make_lab([{"name": "c1"}, {"name": "c2"}], speed=150)
    set_host_data(lab, c1={"timing": {"icu_estimate": 1}}, c2={"timing": {"icu_estimate": 1}})
    ops = runbooks_for(lab)
    events = ops.workdir / "events.jsonl"
    result = ops.run(
        "upgrade",
        *("--window", _window_ending_in(12), "--at-window-end", "finish"),
        *("--events", str(events)),
    )
    assert result.code == 0, result.report
    for name in ("c1", "c2"):
        assert result.cluster(name)["outcome"] == "ok"
        assert releases(lab, name) == {NEW}
    assert [r["rpc"] for r in destructive(lab.audit())] == [ICU, ICU]
    # AND the window's end while they ran is told once per cluster (the team hears of it)
    told = [json.loads(line) for line in events.read_text().splitlines()]
    ended = sorted((e["cluster"], e["at_window_end"]) for e in told if e["event"] == "window-ended")
    assert ended == [("c1", "finish"), ("c2", "finish")], ended


def test_two_runs_never_work_the_same_cluster(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN two upgrade runs started together (two cron entries) on overlapping clusters
    lab = make_lab([{"name": f"c{i}"} for i in range(1, 5)], speed=300)
    ops = runbooks_for(lab)
    first = ops.start("upgrade", "--cluster", "c1", "--cluster", "c2", "--cluster", "c3")
    second = ops.start("upgrade", "--cluster", "c2", "--cluster", "c3", "--cluster", "c4")
    a, b = ops.wait(*first), ops.wait(*second)
    # THEN every cluster received exactly one ICU command
    assert icu_sends(lab.audit()) == Counter({"c1": 1, "c2": 1, "c3": 1, "c4": 1})
    # AND for each shared cluster one run did it and the other reports it locked, naming the
    # holder's run id and PID
    for name in ("c2", "c3"):
        pair = sorted([a.cluster(name)["outcome"], b.cluster(name)["outcome"]])
        assert pair == ["locked", "ok"], (a.report, b.report)
        loser, winner = (a, b) if a.cluster(name)["outcome"] == "locked" else (b, a)
        detail = loser.cluster(name)["detail"]
        assert re.search(rf"run {winner.report['run_id']} pid \d+", detail), detail
    assert a.cluster("c1")["outcome"] == "ok" and b.cluster("c4")["outcome"] == "ok"


def test_unattended_run_with_stdin_closed_then_rerun_what_failed(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(
        [
            {"name": "good"},
            {"name": "bad-disk", "faults": ["disk-full"]},
            {"name": "bad-pkg", "faults": ["package-missing"]},
        ]
    )
    ops = runbooks_for(lab)
    events, log = ops.workdir / "events.jsonl", ops.workdir / "upgrade.log"
    # WHEN the upgrade runs with no stdin and no terminal, as a scheduler runs it
    result = ops.run("upgrade", "--events", str(events), "--log-file", str(log), close_stdin=True)
    # THEN no question was asked, the exit code says "attention", the report is complete
    assert result.code == 1
    assert "[y/N]" not in result.stdout + result.stderr
    run_id = result.report["run_id"]
    outcomes = {n: c["outcome"] for n, c in result.report["clusters"].items()}
    assert outcomes == {"good": "ok", "bad-disk": "failed", "bad-pkg": "failed"}
    assert result.stderr.strip().splitlines()[-1] == "upgrade: failed 2, ok 1"
    # AND every event is a JSON object carrying the run id, in the promised kinds
    records = [json.loads(line) for line in events.read_text().splitlines()]
    assert {r["run_id"] for r in records} == {run_id}
    kinds = [r["event"] for r in records]
    assert kinds[0] == "run-started" and kinds[-1] == "run-finished"
    assert {"cluster-phase", "check-failed", "cluster-finished"} <= set(kinds)
    finished = {r["cluster"]: r["outcome"] for r in records if r["event"] == "cluster-finished"}
    assert finished == outcomes
    # AND every line of the log names the run
    lines = log.read_text().splitlines()
    assert lines and all(f"run={run_id}" in line for line in lines)
    # WHEN the failed clusters are re-run from that report
    again = ops.run(
        "upgrade", "--from-report", str(result.report_path), "--only", "failed", "--dry-run"
    )
    # THEN exactly the failed clusters are selected
    assert set(again.report["clusters"]) == {"bad-disk", "bad-pkg"}
    assert again.report["run_id"] != run_id
    assert icu_sends(lab.audit()) == Counter({"good": 1})


def test_an_icu_left_running_is_followed_even_when_the_window_has_closed(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for
) -> None:
    # GIVEN an upgrade killed mid-ICU
    lab = make_lab([{"name": "c1"}, {"name": "c2"}], speed=150)
    ops = runbooks_for(lab)
    proc, _ = ops.start("upgrade")
    wait_until(lambda: len(icu_sends(lab.audit())) == 2, 60, message="both ICUs sent")
    kill_group(proc)
    # WHEN the next run finds every cluster outside its window
    later = datetime.now(UTC) + timedelta(hours=2)
    result = ops.run("upgrade", "--window", f"{iso(later)}/{iso(later + timedelta(hours=1))}")
    # THEN the running ICUs are still followed to a verified end, never sent again
    assert result.code == 0, result.report
    for name in ("c1", "c2"):
        assert result.cluster(name)["outcome"] == "ok", result.cluster(name)
        assert releases(lab, name) == {NEW}
    assert icu_sends(lab.audit()) == Counter({"c1": 1, "c2": 1})


def test_wait_for_window_sleeps_until_it_opens(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a window that opens a few seconds from now
    lab = make_lab([{"name": "c1"}])
    opens = datetime.now(UTC) + timedelta(seconds=4)
    window = f"{opens.isoformat()}/{iso(opens + timedelta(hours=1))}"
    # WHEN the upgrade is told to wait for it
    result = runbooks_for(lab).run("upgrade", "--window", window, "--wait-for-window")
    # THEN the ICU went out only once the window was open, and the cluster was upgraded
    assert result.code == 0, result.report
    sent = [r for r in lab.audit() if r["rpc"] == ICU]
    assert len(sent) == 1 and sent[0]["ts"] >= opens.timestamp()
    assert releases(lab, "c1") == {NEW}
