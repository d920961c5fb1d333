"""An abort from a second terminal reaches an ICU a Celery worker follows (issue 18, --engine
celery): `abort --engine celery --cluster X` runs on X's region's worker, finds X's lease held
by the upgrade's job, hands the abort to it through the store's mailbox and reports its
verdict; the upgrade sends the abort at its next step, once, and its other clusters go on.
A real redis-server, real workers in two regions, two labs (tests/e2e/celery_rig.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests import warm_processes
from tests.e2e.abort_helpers import ABORT, REBOOT, ROLLBACK
from tests.e2e.celery_rig import TARGET, CeleryRig, icus, wait_until
from tests.e2e.conftest import destructive

OLD = "23.4R2-S3.9"


def aborts(audit: list[dict], cluster: str) -> list[dict]:  # type: ignore[type-arg]
    return [r for r in audit if r["rpc"] == ABORT and r["cluster"] == cluster]


def start_abort(rig: CeleryRig, cluster: str) -> tuple[subprocess.Popen[str], Path]:
    """`python -m runbooks abort --engine celery` from a second terminal (the broker from
    RUNBOOKS_BROKER), stopped with the rig."""
    report = rig.workdir / f"abort-{cluster}.json"
    cmd = [sys.executable, "-m", "runbooks", "abort", "--config", str(rig.config)]
    cmd += ["--inventory", str(rig.inventory), "--engine", "celery", "--cluster", cluster]
    cmd += ["--report", str(report)]
    with report.with_suffix(".out").open("w") as out:
        proc = warm_processes.popen(
            cmd,
            cwd=rig.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**rig.env(), "RUNBOOKS_BROKER": rig.server.broker},
            start_new_session=True,
        )
    rig.runs.append(proc)
    return proc, report


def test_an_abort_is_handed_to_the_workers_upgrade(rig: CeleryRig) -> None:
    # GIVEN an upgrade of six clusters over two regions, each region's worker following its
    # ICUs (speed 100: an ICU takes ~35 s), east-01's ICU sent
    east = rig.lab("east", 3, speed=100.0)
    rig.lab("west", 3, speed=100.0)
    rig.worker("east", threads=4)  # a thread free for the abort's job
    rig.worker("west", threads=4)
    upgrade, report = rig.upgrade()
    wait_until(lambda: icus(east.audit()).get("east-01"), 120, message="east-01's ICU")
    # WHEN an operator aborts east-01 from a second terminal, on the celery engine
    proc, abort_report = start_abort(rig, "east-01")
    asked = rig.finish(proc, abort_report, timeout=240)
    done = rig.finish(upgrade, report, timeout=300)
    # THEN the upgrade's worker sent the abort: one RPC, to the RG0 primary, one ICU
    audit = rig.audit()
    assert [r["node"] for r in aborts(audit, "east-01")] == ["node0"], asked["out"][-3000:]
    assert icus(audit)["east-01"] == 1
    # and the upgrade run reports east-01 aborted (or too late), the other five upgraded
    clusters = done["report"]["clusters"]
    c = clusters["east-01"]
    assert c["outcome"] in ("aborted", "too-late"), c
    assert "abort requested by run" in c["detail"], c
    for name, other in clusters.items():
        if name != "east-01":
            assert other["outcome"] == "ok", (name, other)
            assert aborts(audit, name) == []
    assert set(clusters) == {f"{r}-{i:02d}" for r in ("east", "west") for i in range(3)}
    # the abort command reports the holder's verdict, the lab's truth agreeing
    a = asked["report"]["clusters"]["east-01"]
    assert "handed to run" in a["detail"], a
    releases = {n["release"] for n in east.state()["clusters"]["east-01"]["nodes"].values()}
    if c["outcome"] == "aborted":
        assert a["outcome"] == "ok" and asked["code"] == 0, a
        assert releases == {OLD}
    else:
        assert a["outcome"] == "too-late", a
        assert releases == {TARGET}
    state = east.state()["clusters"]["east-01"]
    assert state["icu_phase"] is None and not state["abort_pending"], state
    # what the second terminal showed while it waited
    said = asked["out"]
    assert "abort handed to it" in said and "acknowledged the abort" in said, said[-3000:]
    assert "fenced off" not in said, said[-3000:]


def long_lease_worker(rig: CeleryRig, region: str) -> subprocess.Popen[str]:
    """rig.worker with the production lease (30 s, not the rig's 2 s): a stopped worker
    keeps its cluster's lease well past the abort's handoff deadline."""
    return rig.worker(region, 2, lease_ttl="30")


def ends_of(rig: CeleryRig, run_id: str, cluster: str) -> int:
    """Ends of `cluster`'s jobs the workers of a run wrote (the run's news or not)."""
    entries = rig.r.xrange(f"rb:run:{run_id}:events")
    return sum(1 for _, f in entries if f.get("k") == "finished" and f["c"] == cluster)


def test_an_abort_takes_over_from_a_stopped_worker_and_is_not_undone(rig: CeleryRig) -> None:
    # GIVEN one cluster's upgrade following its ICU on worker A (a 30 s lease), then A
    # stopped dead (SIGSTOP: its lease still held, nobody to acknowledge), and worker B
    east = rig.lab("east", 1, speed=60.0)
    first = long_lease_worker(rig, "east")
    upgrade, report = rig.upgrade()
    wait_until(lambda: icus(east.audit()).get("east-00"), 120, message="the ICU")
    rig.worker("east", threads=2)
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        # WHEN the operator aborts it: B runs the abort, A never answers
        proc, abort_report = start_abort(rig, "east-00")
        asked = rig.finish(proc, abort_report, timeout=240)
        # THEN the abort fenced A off after the handoff deadline and sent the abort itself
        said = asked["out"]
        assert "abort handed to it" in said and "fenced off" in said, said[-3000:]
        # the fence moved on (past A's 1; a job enqueued again later may take it further)
        assert int(rig.r.get("rb:fence:east-00")) >= 2
        # and the upgrade run, its job enqueued again on B once A's lease was free, does not
        # start the aborted cluster anew
        done = rig.finish(upgrade, report, timeout=300)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    audit = rig.audit()
    # one abort to the RG0 primary, never resent; on a loaded machine it may land after the
    # secondary's reboot: then the recovery's own abort, rollback, reboot on the secondary
    sent = [(r["node"], r["rpc"]) for r in destructive(audit) if r["cluster"] == "east-00"]
    assert [n for n, rpc in sent if rpc == ABORT and n == "node0"] == ["node0"], said[-3000:]
    on_secondary = [rpc for n, rpc in sent if n == "node1"]
    assert on_secondary in ([], [ABORT, ROLLBACK, REBOOT]), sent
    assert icus(audit)["east-00"] == 1, done["out"][-3000:]
    a = asked["report"]["clusters"]["east-00"]
    c = done["report"]["clusters"]["east-00"]
    assert "re-attaching on another worker" in done["out"], done["out"][-3000:]
    releases = {n["release"] for n in east.state()["clusters"]["east-00"]["nodes"].values()}
    if a["outcome"] == "ok":
        assert releases == {OLD}, (a, c)
        assert c["outcome"] == "aborted" and "ended by run" in c["detail"], c
    else:
        assert a["outcome"] == "too-late", a
        assert releases == {TARGET}
    # A, continued, ends its job without sending anything: its next intent is refused
    run_id = done["report"]["run_id"]
    wait_until(lambda: ends_of(rig, run_id, "east-00") >= 2, 120, message="A's end of its job")
    later = [(r["node"], r["rpc"]) for r in destructive(rig.audit()) if r["cluster"] == "east-00"]
    assert later == sent, later  # nothing more than before A was continued
    assert icus(rig.audit())["east-00"] == 1
