"""--engine celery end to end: a real redis-server (private unix socket, appendfsync always),
real `python -m runbooks worker` processes (Celery, threads pool) per region, one simulator
lab per region, and the operator's coordinator. Judged by the labs' audit logs and the report.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from simulator.testing import LabProcess, private_config, wait_until
from tests.e2e.conftest import ROOT, destructive
from tests.redis_server import RedisServer, redis_server_fixture  # noqa: F401  (the fixture)

ICU = "request-package-in-service-upgrade"
TARGET = "24.2R2-S1.3"
LEASE_TTL = "2"  # seconds: a dead worker's lease lapses fast


def merged_inventory(labs: dict[str, LabProcess], workdir: Path) -> Path:
    """One inventory over every region's lab: each host tagged with its region and its
    lab's known_hosts (what an operator's inventory of several regions looks like)."""
    out = workdir / "inventory"
    out.mkdir(parents=True, exist_ok=True)
    hosts: dict[str, Any] = {}
    groups: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for region, lab in labs.items():
        inv = lab.inventory_dir
        defaults = yaml.safe_load((inv / "defaults.yaml").read_text())
        groups.update(yaml.safe_load((inv / "groups.yaml").read_text()))
        for name, host in yaml.safe_load((inv / "hosts.yaml").read_text()).items():
            host["data"]["region"] = region
            host["data"]["known_hosts"] = str(lab.known_hosts)
            hosts[name] = host
    (out / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (out / "groups.yaml").write_text(yaml.safe_dump(groups))
    (out / "defaults.yaml").write_text(yaml.safe_dump(defaults))
    return out


class CeleryRig:
    """Labs per region, workers, and the coordinator, all stopped at teardown."""

    def __init__(self, server: RedisServer, workdir: Path) -> None:
        self.server, self.workdir = server, workdir
        self.labs: dict[str, LabProcess] = {}
        self.workers: list[subprocess.Popen[str]] = []
        self.runs: list[subprocess.Popen[str]] = []
        self.config = private_config(workdir / "ops")
        self.inventory: Path | None = None
        self.r = redis.Redis(unix_socket_path=str(server.socket), decode_responses=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUNOS_")}
        env.update(PYTHONPATH=str(ROOT), RUNBOOKS_WORKER_STALE="3")
        return env

    def lab(
        self,
        region: str,
        count: int,
        speed: float = 600.0,
        faults: dict[int, list[str]] | None = None,
    ) -> LabProcess:
        clusters = [
            {"name": f"{region}-{i:02d}", "faults": (faults or {}).get(i, [])} for i in range(count)
        ]
        spec = {"speed": speed, "clusters": clusters}
        lab = LabProcess(spec, self.workdir / f"lab-{region}", speed=speed)
        self.labs[region] = lab
        self.inventory = merged_inventory(self.labs, self.workdir / "ops")
        return lab

    def worker(self, region: str, threads: int = 20, *extra: str) -> subprocess.Popen[str]:
        n = len(self.workers)
        cmd = [sys.executable, "-m", "runbooks", "worker", *extra]  # broker: RUNBOOKS_BROKER
        cmd += ["--region", region, "--workers", str(threads), "--lease-ttl", LEASE_TTL]
        cmd += ["--config", str(self.config), "--inventory", str(self.inventory)]
        log = (self.workdir / f"worker-{n}.log").open("w")
        proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            stdout=log,
            stderr=log,
            text=True,
            env={**self.env(), "RUNBOOKS_BROKER": self.server.broker},
            start_new_session=True,
        )
        self.workers.append(proc)
        wait_until(lambda: self.live(region, proc.pid), 30, message=f"worker {n} registered")
        return proc

    def live(self, region: str, pid: int | None = None) -> bool:
        members = self.r.zrangebyscore(f"rb:workers:{region}", time.time() - 3, "+inf")
        return any(pid is None or f"-{pid}@" in m for m in members)

    def upgrade(self, *args: str, job: str = "upgrade") -> tuple[subprocess.Popen[str], Path]:
        report = self.workdir / f"report-{len(self.runs)}.json"
        cmd = [sys.executable, "-m", "runbooks", job, "--config", str(self.config)]
        cmd += ["--inventory", str(self.inventory), "--engine", "celery"]
        cmd += ["--broker", self.server.broker, "--report", str(report), *args]
        if job != "status":
            cmd.append("--yes")
        out = report.with_suffix(".out").open("w")
        proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env(),
            start_new_session=True,
        )
        self.runs.append(proc)
        return proc, report

    def finish(self, proc: subprocess.Popen[str], report: Path, timeout: float = 180) -> dict:  # type: ignore[type-arg]
        code = proc.wait(timeout=timeout)
        out = report.with_suffix(".out").read_text()
        data = json.loads(report.read_text()) if report.exists() else {}
        return {"code": code, "out": out, "report": data}

    def audit(self) -> list[dict[str, Any]]:
        return [rec for lab in self.labs.values() for rec in lab.audit()]

    def stop(self) -> None:
        for proc in [*self.runs, *self.workers]:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.runs, *self.workers]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        for lab in self.labs.values():
            lab.stop()


@pytest.fixture
def rig(redis_server: RedisServer, tmp_path: Path) -> Iterator[CeleryRig]:
    made = CeleryRig(redis_server, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def icus(audit: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["cluster"] for r in audit if r["rpc"] == ICU)


def test_a_fleet_over_two_regions_each_icu_once_to_the_rg0_primary(rig: CeleryRig) -> None:
    # GIVEN two regions of 20 clusters, each lab reachable by its region's 2 workers
    for region in ("east", "west"):
        rig.lab(region, 20)
    for region in ("east", "west"):
        rig.worker(region, threads=6)
        rig.worker(region, threads=6)
    # WHEN the operator upgrades the fleet on the celery engine
    events = rig.workdir / "events.jsonl"
    proc, report = rig.upgrade("--max-in-flight", "30", "--events", str(events))
    result = rig.finish(proc, report)
    # THEN every cluster is ok, verified on the target, and got exactly one ICU, on node0
    assert result["code"] == 0, result["out"]
    clusters = result["report"]["clusters"]
    assert len(clusters) == 40
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


def test_redis_gone_mid_run_sends_nothing_and_the_cluster_is_reported(
    rig: CeleryRig, redis_server: RedisServer
) -> None:
    # GIVEN a cluster held before its ICU: the fleet's one in-flight slot is taken
    lab = rig.lab("east", 1)
    rig.worker("east")
    proc, report = rig.upgrade("--max-in-flight", "1")
    wait_until(lambda: rig.r.keys("rb:run:*:claimed"), 60, message="job claimed")
    run_key = next(iter(rig.r.keys("rb:run:*:claimed"))).rsplit(":", 1)[0]
    rig.r.zadd(f"{run_key}:inflight", {"someone-else": time.time()})
    wait_until(
        lambda: any(r["rpc"] == "get-system-storage" for r in lab.audit()),
        60,
        message="pre-checks done",
    )
    time.sleep(1.5)  # waiting for the slot now
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


def run_key_of(rig: CeleryRig) -> str:
    found = wait_until(lambda: rig.r.keys("rb:run:*:claimed"), 60, message="a job claimed")
    return str(next(iter(found))).rsplit(":", 1)[0]


def test_a_worker_stopped_past_its_lease_sends_nothing_once_continued(rig: CeleryRig) -> None:
    # GIVEN worker A follows an ICU it sent
    lab = rig.lab("east", 1, speed=120.0)
    a = rig.worker("east", threads=2)
    proc, report = rig.upgrade()
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
    time.sleep(3)  # A, continued, has had time to try
    assert [r["rpc"] for r in destructive(lab.audit())] == [ICU]
    journal = [json.loads(f["r"]) for _, f in rig.r.xrange("rb:journal:east-00")]
    assert [r["event"] for r in journal].count("icu-ended") == 1


def test_the_same_job_delivered_twice_is_one_icu(rig: CeleryRig) -> None:
    from runbooks.celery_engine import TASK, make_app

    lab = rig.lab("east", 1, speed=300.0)
    rig.worker("east", threads=2)
    rig.worker("east", threads=2)
    proc, report = rig.upgrade()
    run_id = run_key_of(rig).split(":", 2)[2]
    app = make_app(rig.server.broker)
    # WHEN the cluster's job is published again while it runs, and once more after the end
    app.send_task(TASK, args=[run_id, "east-00", 0], queue="runbooks.east")
    result = rig.finish(proc, report)
    app.send_task(TASK, args=[run_id, "east-00", 0], queue="runbooks.east")
    wait_until(lambda: rig.r.llen("runbooks.east") == 0, 30, message="copy taken")
    time.sleep(2)
    # THEN one ICU, one outcome
    assert result["code"] == 0, result["out"]
    assert result["report"]["clusters"]["east-00"]["outcome"] == "ok"
    assert icus(lab.audit()) == {"east-00": 1}


def test_max_in_flight_holds_across_workers(rig: CeleryRig) -> None:
    rig.lab("east", 4, speed=600.0)
    rig.lab("west", 4, speed=600.0)
    for region in ("east", "west"):
        rig.worker(region, threads=4)
    proc, report = rig.upgrade("--max-in-flight", "2")
    run_key = run_key_of(rig)
    seen: list[int] = []
    while proc.poll() is None:  # sampled every 100 ms
        seen.append(int(rig.r.zcard(f"{run_key}:inflight")))
        time.sleep(0.1)
    result = rig.finish(proc, report)
    assert result["code"] == 0, result["out"]
    assert max(seen) == 2 and all(n <= 2 for n in seen)
    assert icus(rig.audit()) == {name: 1 for name in result["report"]["clusters"]}


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
    done = subprocess.run(
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


def test_acks_late_redeliveries_still_make_one_icu(rig: CeleryRig) -> None:
    # GIVEN workers forced into the unsafe mode: acks_late, a 3 s visibility timeout, a 1 s
    # restore sweep (the setting that started one job 5 times concurrently in the design)
    lab = rig.lab("east", 1, speed=120.0)
    rig.worker("east", 2, "--unsafe-acks-late", "3")
    rig.worker("east", 2, "--unsafe-acks-late", "3")
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
    first = rig.worker("east", 2, "--unsafe-die-after-intent")
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


def test_worker_processes_register_and_stop_on_sigterm(rig: CeleryRig) -> None:
    rig.lab("east", 1)
    cmd = [sys.executable, "-m", "runbooks", "worker", "--region", "east", "--processes", "2"]
    cmd += ["--config", str(rig.config), "--inventory", str(rig.inventory)]
    env = {**rig.env(), "RUNBOOKS_BROKER": rig.server.broker}
    log = (rig.workdir / "supervisor.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
    rig.workers.append(proc)  # type: ignore[arg-type]
    live = "rb:workers:east"
    wait_until(lambda: rig.r.zcard(live) == 2, 30, message="two worker processes")
    from runbooks.celery_engine import make_app

    app = make_app(rig.server.broker)  # both consuming (a stop while Celery starts may hang)
    wait_until(lambda: len(app.control.ping(timeout=0.5)) == 2, 30, message="both consuming")
    proc.send_signal(signal.SIGTERM)  # to the supervisor only: it passes it on
    assert proc.wait(timeout=30) == 0
    assert rig.r.zcard(live) == 0


def test_a_worker_whose_inventory_puts_the_cluster_elsewhere_refuses_it(rig: CeleryRig) -> None:
    # GIVEN the operator's inventory says east, the east worker's own inventory says west
    lab = rig.lab("east", 1)
    assert rig.inventory is not None
    theirs = rig.workdir / "worker-inventory"
    theirs.mkdir()
    for name in ("groups.yaml", "defaults.yaml"):
        (theirs / name).write_text((rig.inventory / name).read_text())
    hosts = yaml.safe_load((rig.inventory / "hosts.yaml").read_text())
    hosts["east-00"]["data"]["region"] = "west"
    (theirs / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    ours, rig.inventory = rig.inventory, theirs
    rig.worker("east")
    rig.inventory = ours
    # WHEN the fleet is upgraded: THEN the cluster is reported refused, nothing reached it
    proc, report = rig.upgrade()
    result = rig.finish(proc, report, timeout=60)
    c = result["report"]["clusters"]["east-00"]
    assert result["code"] == 1 and c["outcome"] == "failed", c
    assert "not worked here" in c["detail"]
    assert lab.audit() == []
