"""A run split across worker processes (--processes): the same guarantees as one process.

Fleet policy is shared across the processes (in-flight slots, failure budget, canary, halt);
each cluster is worked, locked and journaled by exactly one process; the main process alone
reports; a worker process that dies leaves its clusters reported and resumable; a second
signal leaves no process behind.
"""

from __future__ import annotations

import itertools
import os
import signal
from collections import Counter
from pathlib import Path

from tests.e2e.conftest import icu_sends, lock_pids, wait_until

ICU = "request-package-in-service-upgrade"
TARGET = "24.2R2-S1.3"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_fleet_shared_among_three_processes(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN 12 healthy clusters
    lab = make_lab(count=12)
    ops = runbooks_for(lab)
    events = ops.workdir / "events.jsonl"
    # WHEN the upgrade runs in three worker processes
    proc, report = ops.start(
        "upgrade", "--processes", "3", "--workers", "12", "--events", str(events)
    )
    result = ops.wait(proc, report)
    # THEN every cluster is verified on the target, with one ICU each
    assert result.code == 0, result.stderr + result.stdout
    assert {c["outcome"] for c in result.report["clusters"].values()} == {"ok"}
    assert icu_sends(lab.audit()) == Counter({f"br-{i:04d}": 1 for i in range(1, 13)})
    # each cluster was locked (and worked) by one of three worker processes, not the main one
    pids = lock_pids(ops.workdir / "state")
    assert len(pids) == 12 and len(set(pids.values())) == 3 and proc.pid not in pids.values()
    # the main process alone reported: every cluster's events in the one events file,
    # journals and transcripts from the workers
    finished = [
        line for line in events.read_text().splitlines() if '"event": "cluster-finished"' in line
    ]
    assert len(finished) == 12
    for name in result.report["clusters"]:
        assert any(r.get("event") == "icu-sending" for r in ops.journal(name))
    assert len(list((ops.workdir / "state" / "runs").glob("*/transcripts/*.log"))) == 12


def test_max_in_flight_holds_across_processes(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN three clusters, two worker processes, one ICU at a time
    lab = make_lab(count=3)
    ops = runbooks_for(lab)
    result = ops.run("upgrade", "--processes", "2", "--workers", "3", "--max-in-flight", "1")
    assert result.code == 0, result.stderr + result.stdout
    # THEN no ICU reached a device before the previous cluster's ICU had ended
    sent = sorted(
        (r["ts"], r["cluster"]) for r in lab.audit() if r["rpc"] == ICU
    )  # device clock: when each ICU arrived
    ended = {
        name: next(r["ts"] for r in ops.journal(name) if r.get("event") == "icu-ended")
        for _, name in sent
    }
    assert len(sent) == 3
    for (_, before), (arrived, _) in itertools.pairwise(sent):
        assert arrived > ended[before], (before, sent, ended)


def test_canary_and_failure_budget_span_processes(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a failing canary, then two failing clusters, each beside healthy ones
    canary = [{"name": "a-canary", "faults": ["package-missing"]}]
    canary += [{"name": f"b-{i}"} for i in range(3)]
    lab = make_lab([{"state": "healthy", **c} for c in canary])
    result = runbooks_for(lab).run("upgrade", "--processes", "2", "--canary", "1")
    # THEN the canary's failure stops every other process's clusters
    assert result.code == 1
    assert result.cluster("a-canary")["outcome"] == "failed"
    for i in range(3):
        c = result.cluster(f"b-{i}")
        assert c["outcome"] == "not-started" and "canary failed: a-canary" in c["detail"], c
    assert icu_sends(lab.audit()) == Counter()

    # GIVEN a cluster whose ICU fails on the device after a second or two, beside three
    # healthy ones: by turns, a-0 and b-1 go to one process, b-0 and b-2 to the other
    budget = [{"name": "a-0", "faults": ["icu-fails"]}]
    budget += [{"name": f"b-{i}"} for i in range(3)]
    lab = make_lab([{"state": "healthy", **c} for c in budget], speed=300)
    # WHEN no failure is allowed, each process working one cluster at a time
    result = runbooks_for(lab).run(
        "upgrade", "--processes", "2", "--workers", "2", "--max-failures", "0"
    )
    # THEN b-0, in flight in the other process when a-0 failed, finishes; after the failure
    # neither process starts another cluster (b-2 only learns of it through the shared gate)
    assert result.code == 1
    outcomes = {n: c["outcome"] for n, c in result.report["clusters"].items()}
    assert outcomes == {"a-0": "failed", "b-0": "ok", "b-1": "not-started", "b-2": "not-started"}
    assert "max-failures" in result.cluster("b-2")["detail"]
    assert set(icu_sends(lab.audit())) == {"a-0", "b-0"}


def test_a_worker_process_that_dies_leaves_its_clusters_reported_and_resumable(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for
) -> None:
    # GIVEN four clusters mid-ICU in two worker processes
    lab = make_lab(count=4, speed=150)
    ops = runbooks_for(lab)
    proc, report = ops.start("upgrade", "--processes", "2", "--workers", "4")
    wait_until(lambda: len(icu_sends(lab.audit())) == 4, timeout=60, message="four ICUs sent")
    pids = lock_pids(ops.workdir / "state")
    victim = pids["br-0001"]
    theirs = sorted(n for n, p in pids.items() if p == victim)
    assert victim != proc.pid and 0 < len(theirs) < 4
    # WHEN one worker process is killed
    os.kill(victim, signal.SIGKILL)
    result = ops.wait(proc, report, timeout=180)
    # THEN its clusters are reported failed with the reason, the other worker's finish
    assert result.code == 1
    for name, c in result.report["clusters"].items():
        if name in theirs:
            assert c["outcome"] == "failed", c
            assert "worker process died (killed by SIGKILL)" in c["detail"], c
        else:
            assert c["outcome"] == "ok", (name, c)
    # AND the next run re-attaches to the ICUs it left, sending none again
    again = ops.run("upgrade", "--processes", "2", "--workers", "4", timeout=180)
    assert again.code == 0, again.stderr + again.stdout
    assert icu_sends(lab.audit()) == Counter({f"br-{i:04d}": 1 for i in range(1, 5)})
    for name in theirs:
        assert again.cluster(name)["outcome"] in ("ok", "skipped"), again.cluster(name)


def test_second_signal_stops_every_process_at_once(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a fleet upgrade in flight in two worker processes
    lab = make_lab(count=4, speed=150)
    ops = runbooks_for(lab)
    page = ops.workdir / "change.html"
    proc, report = ops.start("upgrade", "--processes", "2", "--workers", "4", "--html", str(page))
    wait_until(lambda: len(icu_sends(lab.audit())) == 4, timeout=60, message="four ICUs sent")
    workers = set(lock_pids(ops.workdir / "state").values())
    # WHEN it is signalled twice
    proc.send_signal(signal.SIGTERM)
    err = report.with_suffix(".err")
    wait_until(lambda: "no new clusters will start" in err.read_text(), 10, message="first")
    proc.send_signal(signal.SIGTERM)
    result = ops.wait(proc, report, timeout=30)
    # THEN the run stops at once with every cluster named, and no worker process survives
    assert result.code == 130
    for c in result.report["clusters"].values():
        assert c["outcome"] == "failed" and "re-run with --resume" in c["detail"], c
    html = page.read_text()  # --html written as the JSON report was, before the exit
    assert html.count("data-cluster=") == 4 and "re-run with --resume" in html
    wait_until(lambda: not any(alive(p) for p in workers), 10, message="workers gone")
    # AND the next run re-attaches without a second ICU
    again = ops.run("upgrade", "--workers", "4", timeout=180)
    assert again.code == 0, again.stderr + again.stdout
    assert icu_sends(lab.audit()) == Counter({f"br-{i:04d}": 1 for i in range(1, 5)})
