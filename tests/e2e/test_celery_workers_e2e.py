"""--engine celery end to end (workers): a real redis-server, real Celery worker processes per
region, one simulator lab per region (tests/e2e/celery_rig.py). Judged by the audit logs."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tests.e2e.celery_rig import (
    ICU,
    TARGET,
    CeleryRig,
    icus,
    run_key_of,
    wait_until,
)
from tests.e2e.conftest import destructive


def test_a_worker_killed_mid_icu_is_replaced_without_a_second_icu(rig: CeleryRig) -> None:
    # GIVEN one region, one cluster with a slow ICU, two workers
    lab = rig.lab("east", 1, speed=120.0)
    first = rig.worker("east", threads=2)
    proc, report = rig.upgrade()
    # WHEN the worker working it is SIGKILLed after the ICU went out
    wait_until(lambda: icus(lab.audit()), 60, message="ICU sent")
    claimed = rig.r.hgetall(next(iter(rig.r.keys("rb:run:*:claimed"))))
    assert f"-{first.pid}@" in claimed["east-00"]
    second = rig.worker("east", threads=2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    # THEN the other worker re-attaches (fence 2) and follows the ICU to its verified end
    result = rig.finish(proc, report, timeout=240)
    assert result["code"] == 0, result["out"]
    c = result["report"]["clusters"]["east-00"]
    assert (c["outcome"], c["versions"]) == ("ok", {"node0": TARGET, "node1": TARGET}), c
    assert icus(lab.audit()) == {"east-00": 1}
    assert rig.r.get("rb:fence:east-00") == "2"
    assert f"-{second.pid}@" in rig.r.hget(next(iter(rig.r.keys("rb:run:*:claimed"))), "east-00")
    journal = [json.loads(f["r"]) for _, f in rig.r.xrange("rb:journal:east-00")]
    assert [r["event"] for r in journal].count("icu-sending") == 1
    assert any("re-attaching" in str(r.get("message", "")) for r in journal)
    # and the device itself is on the target
    assert lab.state()["clusters"]["east-00"]["nodes"]["node0"]["release"] == TARGET


def test_a_worker_stopped_past_its_lease_sends_nothing_once_continued(rig: CeleryRig) -> None:
    # GIVEN worker A follows an ICU it sent
    lab = rig.lab("east", 1, speed=120.0)
    a = rig.worker("east", threads=2)
    proc, report = rig.upgrade()
    run_id = run_key_of(rig).split(":", 2)[2]
    wait_until(lambda: icus(lab.audit()), 60, message="ICU sent")
    rig.worker("east", threads=2)
    # WHEN A is stopped until worker B has taken the cluster over (fence 2), then continued
    os.killpg(a.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: rig.r.get("rb:fence:east-00") == "2", 60, message="takeover")
    finally:
        os.killpg(a.pid, signal.SIGCONT)
    result = rig.finish(proc, report, timeout=240)
    # THEN B's verified end is the run's; A sent nothing and journaled no intent or end
    assert result["code"] == 0, result["out"]
    assert result["report"]["clusters"]["east-00"]["outcome"] == "ok"
    # A, continued, has tried: its job has ended too (its end in the run's stream, not the
    # run's news), so nothing more can come from it
    superseded = wait_until(
        lambda: [f for f in ends(rig, run_id, "east-00") if f["p"] == "0"], 60, message="A's end"
    )
    assert "another worker took the cluster over" in superseded[0]["o"], superseded
    assert [r["rpc"] for r in destructive(lab.audit())] == [ICU]
    journal = [json.loads(f["r"]) for _, f in rig.r.xrange("rb:journal:east-00")]
    assert [r["event"] for r in journal].count("icu-ended") == 1


def ends(rig: CeleryRig, run_id: str, cluster: str) -> list[dict[str, str]]:
    """The ends of `cluster`'s jobs in the run's stream (the run's news or not: `p`)."""
    entries = rig.r.xrange(f"rb:run:{run_id}:events")
    return [f for _, f in entries if f.get("k") == "finished" and f["c"] == cluster]


def test_the_same_job_delivered_twice_is_one_icu(rig: CeleryRig) -> None:
    from runbooks.engines.celery_coordinator import TASK, make_app

    lab = rig.lab("east", 1, speed=300.0)
    workers = [rig.worker("east", 2, "-v") for _ in range(2)]  # -v: Celery logs each job's end
    proc, report = rig.upgrade()
    run_id = run_key_of(rig).split(":", 2)[2]
    app = make_app(rig.server.broker)
    # WHEN the cluster's job is published again while it runs, and once more after the end
    copies = [app.send_task(TASK, args=[run_id, "east-00", 0], queue="runbooks.east").id]
    result = rig.finish(proc, report)
    copies.append(app.send_task(TASK, args=[run_id, "east-00", 0], queue="runbooks.east").id)

    def ended(task_id: str) -> bool:  # Celery's line at the end of that job, on either worker
        return any(f"[{task_id}] succeeded" in rig.log(w) for w in workers)

    wait_until(lambda: all(ended(c) for c in copies), 60, message="both copies worked to their end")
    # THEN one ICU, one outcome
    assert result["code"] == 0, result["out"]
    assert result["report"]["clusters"]["east-00"]["outcome"] == "ok"
    assert icus(lab.audit()) == {"east-00": 1}


def test_acks_late_redeliveries_still_make_one_icu(rig: CeleryRig) -> None:
    # GIVEN workers forced into the unsafe mode: acks_late, a 3 s visibility timeout, a 1 s
    # restore sweep (the setting that started one job 5 times concurrently in the design)
    lab = rig.lab("east", 1, speed=120.0)
    rig.worker("east", 2, faults="acks-late=3")
    rig.worker("east", 2, faults="acks-late=3")
    proc, report = rig.upgrade()
    run_key = run_key_of(rig)
    result = rig.finish(proc, report, timeout=240)
    # THEN the job was delivered again while it ran, and still: one ICU, one outcome
    assert result["code"] == 0, result["out"]
    assert int(rig.r.hget(f"{run_key}:deliveries", "east-00") or 0) >= 2
    assert result["report"]["clusters"]["east-00"]["outcome"] == "ok"
    assert icus(lab.audit()) == {"east-00": 1}


def test_a_worker_killed_between_intent_and_wire_is_replaced_and_no_icu_goes_twice(
    rig: CeleryRig,
) -> None:
    # GIVEN a worker that dies the instant the ICU intent is stored, and a healthy one
    lab = rig.lab("east", 1, speed=120.0)
    first = rig.worker("east", 2, faults="die-after-intent")
    proc, report = rig.upgrade()
    wait_until(lambda: first.poll() is not None, 60, message="the first worker died")
    rig.worker("east", 2)
    result = rig.finish(proc, report, timeout=240)
    # THEN the second worker re-attached (fence 2) and, finding no ICU on the device, did not
    # send one: the cluster is reported, the device untouched
    c = result["report"]["clusters"]["east-00"]
    assert (c["outcome"], c["state"]) == ("failed", "healthy"), c
    assert "nothing pending and no reboot" in c["detail"]
    assert rig.r.get("rb:fence:east-00") == "2"
    assert icus(lab.audit()) == {}
    journal = [json.loads(f["r"]) for _, f in rig.r.xrange("rb:journal:east-00")]
    assert [r["event"] for r in journal].count("icu-sending") == 1


def test_jobs_a_worker_took_off_the_queue_and_died_with_are_enqueued_again(
    rig: CeleryRig,
) -> None:
    # GIVEN a worker that dies (SIGKILL) as its first job starts: acked, never claimed; its
    # second thread's job, taken off the queue too, dies with it
    lab = rig.lab("east", 3, speed=300.0)
    first = rig.worker("east", 2, faults="die-before-claim")
    proc, report = rig.upgrade()
    wait_until(lambda: first.poll() is not None, 60, message="the first worker died")
    assert rig.r.llen("runbooks.east") >= 1  # what it did not take waits on the queue
    # WHEN a healthy worker comes and empties the queue
    rig.worker("east", 2)
    result = rig.finish(proc, report, timeout=240)
    # THEN the coordinator saw the jobs nobody claimed and enqueued them again: every cluster
    # upgraded, each with one ICU
    assert result["code"] == 0, result["out"]
    clusters = result["report"]["clusters"]
    assert {n: c["outcome"] for n, c in clusters.items()} == {
        "east-00": "ok",
        "east-01": "ok",
        "east-02": "ok",
    }
    assert icus(lab.audit()) == {"east-00": 1, "east-01": 1, "east-02": 1}
    assert "taken off the queue but never started" in result["out"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"version": 2}, "job description version 2; this worker speaks version 1"),
        ({"options": {"renamed_flag": True}}, "renamed_flag unknown to this worker"),
    ],
)
def test_a_job_description_a_worker_cannot_take_is_refused_with_nothing_sent(
    rig: CeleryRig,
    change: dict,
    words: str,  # type: ignore[type-arg]
) -> None:
    from runbooks.engines.celery_coordinator import TASK, make_app

    # GIVEN a run written by a coordinator of another release (a rolling upgrade of the tool)
    lab = rig.lab("east", 1, speed=300.0)
    rig.worker("east", threads=1)
    run_id = "run-other-release"
    desc = {"version": 1, "job": "upgrade", "options": {"yes": True}, "names": ["east-00"]}
    desc.update(regions={"east-00": "east"}, **change)
    rig.r.hset(f"rb:run:{run_id}", mapping={"description": json.dumps(desc), "job": "upgrade"})
    # WHEN its job reaches a worker
    make_app(rig.server.broker).send_task(TASK, args=[run_id, "east-00", 0], queue="runbooks.east")
    # THEN the worker refuses it with an outcome that says why, and nothing reached the device
    got = wait_until(lambda: ends(rig, run_id, "east-00"), 60, message="the job's end")
    outcome = json.loads(got[0]["o"])
    assert outcome["outcome"] == "failed" and words in outcome["detail"], outcome
    assert "refused the run" in outcome["detail"]
    assert [r for r in lab.audit() if r["cluster"] == "east-00"] == []
