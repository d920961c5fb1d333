"""--engine celery end to end (fleet): a real redis-server, real Celery worker processes per
region, one simulator lab per region (tests/e2e/celery_rig.py). Judged by the audit logs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections import Counter
from typing import Any

import yaml

from tests.e2e.celery_rig import (
    ICU,
    TARGET,
    CeleryRig,
    icus,
    wait_until,
)
from tests.e2e.conftest import client_stacks, destructive

DUAL = ("request-package-add", "request-reboot")  # the dual reboot's commands, per node


def test_a_fleet_over_two_regions_each_icu_once_to_the_rg0_primary(rig: CeleryRig) -> None:
    # GIVEN two regions of 8 clusters, each lab reachable by its region's 2 workers
    for region in ("east", "west"):
        rig.lab(region, 8)
    for region in ("east", "west"):
        rig.worker(region, threads=6)
        rig.worker(region, threads=6)
    # WHEN the operator upgrades the fleet on the celery engine
    events = rig.workdir / "events.jsonl"
    proc, report = rig.upgrade("--max-in-flight", "12", "--events", str(events))
    result = rig.finish(proc, report)
    # THEN every cluster is ok, verified on the target, and got exactly one ICU, on node0
    assert result["code"] == 0, result["out"]
    clusters = result["report"]["clusters"]
    assert len(clusters) == 16
    for name, c in clusters.items():
        assert (c["outcome"], c["state"]) == ("ok", "healthy"), (name, c)
        assert c["versions"] == {"node0": TARGET, "node1": TARGET}
    audit = rig.audit()
    assert icus(audit) == {name: 1 for name in clusters}
    assert {r["node"] for r in audit if r["rpc"] == ICU} == {"node0"}
    # and --events has each cluster's end, as in a local run
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    ended = sorted(r["cluster"] for r in lines if r["event"] == "cluster-finished")
    assert ended == sorted(clusters)
    # and each region's clusters were worked by that region's workers only
    for region, lab in rig.labs.items():
        assert {r["cluster"].split("-")[0] for r in lab.audit()} == {region}
    # and the run's keys expire (30 days), the clusters' journals do not
    run_keys = rig.r.keys(f"rb:run:{result['report']['run_id']}*")
    assert len(run_keys) >= 4 and all(0 < rig.r.ttl(k) <= 30 * 86400 for k in run_keys)
    assert all(rig.r.ttl(f"rb:journal:{name}") == -1 for name in clusters)


def test_a_region_without_a_live_worker_is_exit_2_and_nothing_is_enqueued(
    rig: CeleryRig,
) -> None:
    rig.lab("east", 2)
    rig.lab("west", 2)
    rig.worker("east")
    proc, report = rig.upgrade()
    result = rig.finish(proc, report, timeout=60)
    assert result["code"] == 2, result["out"]
    assert "no live worker for region west" in result["out"]
    assert not [k for k in rig.r.keys("*") if k.startswith("rb:run:")]  # no run, no job
    assert rig.r.llen("runbooks.east") == 0 and rig.r.llen("runbooks.west") == 0
    assert destructive(rig.audit()) == []


def test_max_in_flight_holds_across_workers(rig: CeleryRig) -> None:
    rig.lab("east", 4, speed=600.0)
    rig.lab("west", 4, speed=600.0)
    for region in ("east", "west"):
        rig.worker(region, threads=4)
    proc, report = rig.upgrade("--max-in-flight", "2")
    result = rig.finish(proc, report)
    assert result["code"] == 0, result["out"]
    # every ICU from its intent to its seen end, as the journals recorded them (not sampled):
    # two at once at most, and two at once indeed
    names = sorted(result["report"]["clusters"])
    assert most_at_once(icu_spans(rig, names)) == 2
    assert icus(rig.audit()) == {name: 1 for name in names}


def icu_spans(rig: CeleryRig, names: list[str]) -> list[tuple[float, float]]:
    """(icu-sending, icu-ended) times of each ICU in the clusters' journals."""
    spans = []
    for name in names:
        records = [json.loads(f["r"]) for _, f in rig.r.xrange(f"rb:journal:{name}")]
        sent = [r["ts"] for r in records if r["event"] == "icu-sending"]
        ended = [r["ts"] for r in records if r["event"] == "icu-ended"]
        spans += list(zip(sent, ended, strict=True))
    return spans


def most_at_once(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])  # ends first
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


def test_a_failed_canary_starts_no_other_cluster_in_any_region(rig: CeleryRig) -> None:
    rig.lab("east", 2, faults={0: ["package-missing"]})
    rig.lab("west", 2)
    rig.worker("east")
    rig.worker("west")
    proc, report = rig.upgrade("--canary", "1")
    result = rig.finish(proc, report)
    outcomes = {n: c["outcome"] for n, c in result["report"]["clusters"].items()}
    assert result["code"] == 1, result["out"]
    assert outcomes == {
        "east-00": "failed",
        "east-01": "not-started",
        "west-00": "not-started",
        "west-01": "not-started",
    }
    assert destructive(rig.audit()) == []


def test_status_on_the_workers_is_the_same_table_and_report(rig: CeleryRig) -> None:
    east = rig.lab("east", 1)
    rig.lab("west", 1)
    rig.worker("east")
    rig.worker("west")
    proc, report = rig.upgrade(job="status")
    result = rig.finish(proc, report, timeout=60)
    assert result["code"] == 0, result["out"]
    clusters = result["report"]["clusters"]
    assert {n: (c["outcome"], c["state"]) for n, c in clusters.items()} == {
        "east-00": ("ok", "healthy"),
        "west-00": ("ok", "healthy"),
    }
    assert clusters["east-00"]["rg_primary"]["rg0"] == "node0"
    assert "SRX chassis clusters" in result["out"]
    assert destructive(rig.audit()) == [] and east.audit()


def test_worker_processes_register_and_stop_on_sigterm(rig: CeleryRig) -> None:
    rig.lab("east", 1)
    cmd = [sys.executable, "-m", "runbooks", "worker", "--region", "east", "--processes", "2"]
    cmd += ["--config", str(rig.config), "--inventory", str(rig.inventory)]
    env = {**rig.env(), "RUNBOOKS_BROKER": rig.server.broker}
    log = (rig.workdir / "supervisor.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    rig.workers.append(proc)  # type: ignore[arg-type]
    live = "rb:workers:east"
    # a worker heartbeats once it consumes (a stop while Celery starts may hang)
    wait_until(lambda: rig.r.zcard(live) == 2, 30, message="two worker processes consuming")
    proc.send_signal(signal.SIGTERM)  # to the supervisor only: it passes it on
    assert proc.wait(timeout=30) == 0
    assert rig.r.zcard(live) == 0


def worker_with_own_inventory(rig: CeleryRig, **data: Any) -> None:
    """An east worker whose inventory gives east-00 these data values (the operator's not)."""
    assert rig.inventory is not None
    theirs = rig.workdir / "worker-inventory"
    theirs.mkdir()
    for name in ("groups.yaml", "defaults.yaml"):
        (theirs / name).write_text((rig.inventory / name).read_text())
    hosts = yaml.safe_load((rig.inventory / "hosts.yaml").read_text())
    hosts["east-00"]["data"].update(data)
    (theirs / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    ours, rig.inventory = rig.inventory, theirs
    rig.worker("east")
    rig.inventory = ours


def test_a_worker_whose_inventory_puts_the_cluster_elsewhere_refuses_it(rig: CeleryRig) -> None:
    # GIVEN the operator's inventory says east, the east worker's own inventory says west
    lab = rig.lab("east", 1)
    worker_with_own_inventory(rig, region="west")
    # WHEN the fleet is upgraded: THEN the cluster is reported refused, nothing reached it
    proc, report = rig.upgrade()
    result = rig.finish(proc, report, timeout=60)
    c = result["report"]["clusters"]["east-00"]
    assert result["code"] == 1 and c["outcome"] == "failed", c
    assert "not worked here" in c["detail"]
    assert lab.audit() == []


def test_a_worker_whose_inventory_gives_another_target_refuses_the_cluster(
    rig: CeleryRig,
) -> None:
    # GIVEN the east worker's inventory gives east-00 another target release and package
    lab = rig.lab("east", 1)
    other = "24.2R1.17"
    worker_with_own_inventory(
        rig, target_release=other, package=f"/var/tmp/junos-srxsme-{other}.tgz"
    )
    # WHEN the operator (whose inventory says 24.2R2-S1.3) upgrades it on the celery engine
    proc, report = rig.upgrade()
    result = rig.finish(proc, report, timeout=60)
    # THEN the worker refused it before any RPC: the operator's checks were of another plan
    c = result["report"]["clusters"]["east-00"]
    assert result["code"] == 1 and c["outcome"] == "failed", c
    assert "inventory differs from the operator's" in c["detail"], c
    assert lab.audit() == []


def test_allow_outage_carries_a_dual_reboot_out_on_the_workers(rig: CeleryRig) -> None:
    # GIVEN an SRX345 cluster on 23.4R2-S3.9 whose target, 24.4R1.9, needs a dual reboot
    hop = "24.4R1.9"
    lab = rig.lab("east", 1, each={"model": "SRX345", "target": hop, "packages": [hop]})
    rig.worker("east", 2)
    # WHEN the operator upgrades it on the celery engine with the outage allowed
    proc, report = rig.upgrade("--allow-outage")
    result = rig.finish(proc, report)
    # THEN the worker ran the same plan as a local run: the dual reboot, verified
    assert result["code"] == 0, result["out"]
    c = result["report"]["clusters"]["east-00"]
    assert c["outcome"] == "ok", c
    assert [(h["method"], h["to"], h["outcome"]) for h in c["hops"]] == [("dual-reboot", hop, "ok")]
    state = lab.state()["clusters"]["east-00"]
    assert {n["release"] for n in state["nodes"].values()} == {hop}
    assert state["mixed_release"] == []  # never linked on different releases
    sent = Counter((r["rpc"], r["node"]) for r in lab.audit() if r["rpc"] in DUAL)
    assert sent == Counter({(rpc, node): 1 for rpc in DUAL for node in ("node0", "node1")})


def test_the_workers_speak_the_transport_the_operator_chose(rig: CeleryRig) -> None:
    # GIVEN a region of two clusters and one worker started without any --transport
    lab = rig.lab("east", 2)
    rig.worker("east", 4)
    # WHEN the operator upgrades on the celery engine over the asyncssh transport
    proc, report = rig.upgrade("--transport", "asyncssh")
    result = rig.finish(proc, report)
    # THEN the worker carried the job description's transport: asyncssh spoke every RPC,
    # each cluster verified on the target with one ICU to its RG0 primary
    assert result["code"] == 0, result["out"]
    assert {c["outcome"] for c in result["report"]["clusters"].values()} == {"ok"}
    assert icus(lab.audit()) == Counter({"east-00": 1, "east-01": 1})
    assert {r["node"] for r in lab.audit() if r["rpc"] == ICU} == {"node0"}
    assert client_stacks(lab.audit()) == {"AsyncSSH"}
    for cluster in lab.state()["clusters"].values():
        assert {n["release"] for n in cluster["nodes"].values()} == {TARGET}
