"""--engine celery end to end (outages): a real redis-server, real Celery worker processes per
region, one simulator lab per region (tests/e2e/celery_rig.py). Judged by the audit logs."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from tests import warm_processes
from tests.e2e.celery_rig import (
    ICU,
    CeleryRig,
    RedisServer,
    icus,
    run_key_of,
    wait_until,
)
from tests.e2e.conftest import destructive


def test_redis_gone_mid_run_sends_nothing_and_the_cluster_is_reported(
    rig: CeleryRig, redis_server: RedisServer
) -> None:
    # GIVEN a cluster held before its ICU: the fleet's one in-flight slot is taken
    lab = rig.lab("east", 1)
    worker = rig.worker("east", 20, "-v")  # -v: its log says when a cluster waits for a slot
    proc, report = rig.upgrade("--max-in-flight", "1")
    wait_until(lambda: rig.r.keys("rb:run:*:claimed"), 60, message="job claimed")
    run_key = next(iter(rig.r.keys("rb:run:*:claimed"))).rsplit(":", 1)[0]
    rig.r.zadd(f"{run_key}:inflight", {"someone-else": time.time()})
    wait_until(
        lambda: any(r["rpc"] == "get-system-storage" for r in lab.audit()),
        60,
        message="pre-checks done",
    )
    said = "east-00: waiting for an in-flight slot"  # refused a slot, waiting for one now
    wait_until(lambda: said in rig.log(worker), 60, message="east-00 waiting for the slot")
    # WHEN Redis dies, and comes back from its append-only file a few seconds later
    redis_server.kill()
    time.sleep(4)
    redis_server.start()
    # THEN no ICU went out, and the run reports the cluster failed on the store
    result = rig.finish(proc, report, timeout=120)
    assert result["code"] == 1, result["out"]
    c = result["report"]["clusters"]["east-00"]
    assert c["outcome"] == "failed" and "store" in c["detail"], c
    assert destructive(lab.audit()) == []


def test_attach_rebuilds_the_report_after_the_coordinator_was_killed(rig: CeleryRig) -> None:
    lab = rig.lab("east", 3, speed=300.0)
    rig.worker("east", threads=3)
    proc, _ = rig.upgrade()
    run_id = run_key_of(rig).split(":", 2)[2]
    wait_until(lambda: icus(lab.audit()), 60, message="an ICU sent")
    # WHEN the coordinator is SIGKILLed, and the operator attaches
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    again = rig.workdir / "attach.json"
    cmd = [sys.executable, "-m", "runbooks", "attach", run_id, "--broker", rig.server.broker]
    cmd += ["--report", str(again)]
    done = warm_processes.run(
        cmd, cwd=rig.workdir, env=rig.env(), capture_output=True, text=True, timeout=180
    )
    # THEN the report accounts for every cluster, each upgraded once
    assert done.returncode == 0, done.stderr
    clusters = json.loads(again.read_text())["clusters"]
    assert {n: c["outcome"] for n, c in clusters.items()} == {f"east-0{i}": "ok" for i in range(3)}
    assert icus(lab.audit()) == {f"east-0{i}": 1 for i in range(3)}


def test_ctrl_c_with_abort_aborts_in_flight_and_starts_no_more(rig: CeleryRig) -> None:
    lab = rig.lab("east", 3, speed=120.0)
    rig.worker("east", threads=3)
    proc, report = rig.upgrade("--max-in-flight", "1", "--on-interrupt", "abort")
    wait_until(lambda: icus(lab.audit()), 60, message="the first ICU sent")
    os.killpg(proc.pid, signal.SIGINT)
    result = rig.finish(proc, report, timeout=240)
    (first,) = icus(lab.audit())
    assert result["code"] == 1, result["out"]
    outcomes = {n: c["outcome"] for n, c in result["report"]["clusters"].items()}
    assert [n for n, o in outcomes.items() if o == "not-started"] == sorted(set(outcomes) - {first})
    assert "abort-in-service-upgrade" in [r["rpc"] for r in destructive(lab.audit())]
    assert icus(lab.audit()) == {first: 1}


@pytest.mark.parametrize("down", [0.5, 5.0], ids=["shorter-than-lease", "longer-than-lease"])
def test_redis_restarted_mid_icu_loses_nothing_and_sends_nothing_twice(
    rig: CeleryRig, redis_server: RedisServer, down: float
) -> None:
    # GIVEN two clusters whose ICUs are running
    lab = rig.lab("east", 2, speed=120.0)
    rig.worker("east", threads=2)
    proc, report = rig.upgrade()
    wait_until(lambda: len(icus(lab.audit())) == 2, 60, message="both ICUs sent")
    # WHEN Redis is SIGKILLed and restarted from its append-only file `down` seconds later
    redis_server.kill()
    time.sleep(down)
    redis_server.start()
    # THEN both are followed to their verified end by the same worker, each ICU once
    result = rig.finish(proc, report, timeout=240)
    assert result["code"] == 0, result["out"]
    assert {n: c["outcome"] for n, c in result["report"]["clusters"].items()} == {
        "east-00": "ok",
        "east-01": "ok",
    }
    assert icus(lab.audit()) == {"east-00": 1, "east-01": 1}
    assert [rig.r.get(f"rb:fence:east-0{i}") for i in range(2)] == ["1", "1"]  # no take-over


def test_ctrl_c_with_finish_lets_the_in_flight_icu_finish_and_starts_no_more(
    rig: CeleryRig,
) -> None:
    lab = rig.lab("east", 3, speed=200.0)
    rig.worker("east", threads=3)
    proc, report = rig.upgrade("--max-in-flight", "1", "--on-interrupt", "finish")
    wait_until(lambda: icus(lab.audit()), 60, message="the first ICU sent")
    os.killpg(proc.pid, signal.SIGTERM)
    result = rig.finish(proc, report, timeout=240)
    (first,) = icus(lab.audit())
    outcomes = {n: c["outcome"] for n, c in result["report"]["clusters"].items()}
    assert result["code"] == 1, result["out"]
    assert outcomes == {n: "ok" if n == first else "not-started" for n in outcomes}
    assert [r["rpc"] for r in destructive(lab.audit())] == [ICU]
