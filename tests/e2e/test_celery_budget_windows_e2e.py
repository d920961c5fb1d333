"""--engine celery end to end (fleet policy on the workers): the --max-failures budget spent
across worker processes of two regions, and maintenance windows judged on the workers. A real
redis-server, real Celery worker processes per region, one simulator lab per region
(tests/e2e/celery_rig.py). Judged by the labs' audit logs, the store and the report."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from tests import warm_processes
from tests.e2e.celery_rig import ICU, TARGET, CeleryRig, icus, wait_until
from tests.e2e.conftest import destructive, icu_sends

HALTED = "halted: 2 failures exceed --max-failures 1"


def iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def outcomes_of(result: dict[str, Any]) -> dict[str, str]:
    return {n: c["outcome"] for n, c in result["report"]["clusters"].items()}


def records(rig: CeleryRig, stream: str, field: str) -> list[dict[str, Any]]:
    """The JSON records in one field of a store stream (a journal, a run's events)."""
    entries: Any = rig.r.xrange(stream)
    return [json.loads(fields[field]) for _, fields in entries if field in fields]


def finished_at(events: list[dict[str, Any]], cluster: str) -> float:
    (ts,) = [
        e["ts"] for e in events if e["event"] == "cluster-finished" and e["cluster"] == cluster
    ]
    return float(ts)


def test_the_failure_budget_is_spent_across_workers_and_halts_both_regions(
    rig: CeleryRig,
) -> None:
    # GIVEN two regions of three clusters, each worked by its own worker process, one cluster
    # at a time in name order: east-00 fails its pre-checks at once (a major alarm: nothing
    # destructive is sent), west-00's ICU fails ~6 s after it is sent (lab at speed 100),
    # while east-01's ICU (lab at speed 300: ~10 s) is in flight
    east = rig.lab("east", 3, speed=300.0, faults={0: ["major-alarm"]})
    west = rig.lab("west", 3, speed=100.0, faults={0: ["icu-fails"]})
    rig.worker("east", threads=1)
    rig.worker("west", threads=1)
    # WHEN the fleet is upgraded with a budget of one failure (neither worker exceeds it alone)
    events_path = rig.workdir / "events.jsonl"
    proc, report = rig.upgrade("--max-failures", "1", "--events", str(events_path))
    result = rig.finish(proc, report)
    # THEN the second failure, in the other region, halted the run for every worker: the
    # cluster in flight finished, none started after it, exit 1, every cluster in the report
    assert result["code"] == 1, result["out"]
    assert outcomes_of(result) == {
        "east-00": "failed",
        "east-01": "ok",
        "east-02": "not-started",
        "west-00": "failed",
        "west-01": "not-started",
        "west-02": "not-started",
    }, result["report"]
    clusters = result["report"]["clusters"]
    assert "no-major-alarms" in clusters["east-00"]["detail"], clusters["east-00"]
    assert clusters["east-01"]["versions"] == {"node0": TARGET, "node1": TARGET}
    for name in ("east-02", "west-01", "west-02"):
        assert HALTED in clusters[name]["detail"], (name, clusters[name])
    run = rig.r.hgetall(f"rb:run:{result['report']['run_id']}")
    assert (run["failures"], run["halt"]) == ("2", HALTED)
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    assert sorted(e["cluster"] for e in events if e["event"] == "cluster-finished") == sorted(
        clusters
    )
    # AND by the audit logs: one ICU each, to node0, all sent before the halt; the pre-check
    # failure sent nothing destructive; the clusters never started received no RPC at all
    audit = rig.audit()
    assert icu_sends(audit) == {"east-01": 1, "west-00": 1}
    assert {r["node"] for r in audit if r["rpc"] == ICU} == {"node0"}
    halt = finished_at(events, "west-00")  # the halt is stored as this outcome is
    assert all(r["ts"] < halt for r in audit if r["rpc"] == ICU), (halt, audit)
    assert [r for r in destructive(audit) if r["cluster"] == "east-00"] == []
    assert east.audit("east-00") and east.audit("east-02") == []
    assert west.audit("west-01") == [] and west.audit("west-02") == []


def window_groups(rig: CeleryRig, groups: dict[str, dict[str, Any]], **hosts: Any) -> None:
    """Site groups carrying windows (each region's clusters in its site-REGION group) and
    host data (keyword east_00 for host east-00), written to the inventory workers read."""
    assert rig.inventory is not None
    gpath, hpath = rig.inventory / "groups.yaml", rig.inventory / "hosts.yaml"
    known = yaml.safe_load(gpath.read_text())
    known.update({name: {"data": data} for name, data in groups.items()})
    gpath.write_text(yaml.safe_dump(known))
    found = yaml.safe_load(hpath.read_text())
    for name, host in found.items():
        host["groups"].append(f"site-{name.split('-')[0]}")
        host["data"].update(hosts.get(name.replace("-", "_"), {}))
    hpath.write_text(yaml.safe_dump(found))


def test_windows_are_judged_on_the_workers_of_each_region(rig: CeleryRig) -> None:
    # GIVEN east's site window open for another hour; west's site window the same hours of
    # the day, but in its own time zone (UTC+10), so closed now; and west-01 inside a window
    # of its own that closes in 30 min, too short for its one-hour ICU estimate
    rig.lab("east", 2)
    west = rig.lab("west", 2)
    now = datetime.now(UTC)
    hour = timedelta(hours=1)
    daily = f"daily {(now - hour):%H:%M}-{(now + hour):%H:%M}"
    short = f"{iso(now - hour)}/{iso(now + timedelta(minutes=30))}"
    window_groups(
        rig,
        {
            "site-east": {"window": f"{iso(now - hour)}/{iso(now + hour)}"},
            "site-west": {"window": daily, "timezone": "Etc/GMT-10"},
        },
        west_01={"window": short, "timing": {"icu_estimate": 3600}},
    )
    for region in ("east", "west"):
        rig.worker(region, threads=2)
    # WHEN the fleet is upgraded on the celery engine
    proc, report = rig.upgrade()
    result = rig.finish(proc, report)
    # THEN only the clusters inside their window were upgraded, on their region's worker; the
    # others are not-started with the window's reason, and not one RPC reached them
    assert result["code"] == 1, result["out"]
    assert outcomes_of(result) == {
        "east-00": "ok",
        "east-01": "ok",
        "west-00": "not-started",
        "west-01": "not-started",
    }, result["report"]
    clusters = result["report"]["clusters"]
    assert "window closed (opens" in clusters["west-00"]["detail"], clusters["west-00"]
    assert "+10:00" in clusters["west-00"]["detail"], clusters["west-00"]  # its site's zone
    # the window is 30 min from the run's start: a start slowed by load may see 29 left
    detail = clusters["west-01"]["detail"]
    assert re.search(r"would not fit: needs 60 min, (29|30) min left", detail), detail
    for name in ("east-00", "east-01"):
        assert clusters[name]["versions"] == {"node0": TARGET, "node1": TARGET}
    audit = rig.audit()
    assert icu_sends(audit) == {"east-00": 1, "east-01": 1}
    assert {r["node"] for r in audit if r["rpc"] == ICU} == {"node0"}
    assert destructive(west.audit()) == [] and west.audit() == []


def test_wait_for_window_holds_the_icu_on_the_workers_until_it_opens(rig: CeleryRig) -> None:
    # GIVEN one cluster per region, and a --window that opens a few seconds from now (after
    # the workers have the jobs: the coordinator takes 1-2 s to start, more on a busy host)
    rig.lab("east", 1)
    rig.lab("west", 1)
    for region in ("east", "west"):
        rig.worker(region, threads=2)
    opens = datetime.now(UTC) + timedelta(seconds=12)
    window = f"{opens.isoformat()}/{iso(opens + timedelta(hours=1))}"
    # WHEN the upgrade is told to wait for it
    proc, report = rig.upgrade("--window", window, "--wait-for-window")
    result = rig.finish(proc, report)
    # THEN each worker waited (its note on the run's stream), sent its ICU only once the
    # window was open, and both clusters were upgraded
    assert result["code"] == 0, result["out"]
    assert outcomes_of(result) == {"east-00": "ok", "west-00": "ok"}, result["report"]
    notes = records(rig, f"rb:run:{result['report']['run_id']}:events", "e")
    waited = {e["cluster"] for e in notes if "waiting: window closed" in e.get("message", "")}
    # a worker that had the job before the window opened said it waits (on a loaded host a
    # job may reach its worker after the opening: then there was nothing to wait for)
    early = {e["cluster"] for e in notes if e["cluster"] and e["ts"] < opens.timestamp() - 1}
    assert early <= waited, notes
    sent = [r for r in rig.audit() if r["rpc"] == ICU]
    assert sorted(r["cluster"] for r in sent) == ["east-00", "west-00"]
    assert all(r["ts"] >= opens.timestamp() and r["node"] == "node0" for r in sent), sent


def test_the_icu_estimate_on_the_workers_is_the_median_of_the_stores_past_icus(
    rig: CeleryRig,
) -> None:
    # GIVEN east-01 inside a window that closes in 30 min, with a default estimate of 60 min
    rig.lab("east", 2)
    now = datetime.now(UTC)
    short = f"{iso(now - timedelta(hours=1))}/{iso(now + timedelta(minutes=30))}"
    window_groups(
        rig, {"site-east": {}}, east_01={"window": short, "timing": {"icu_estimate": 3600}}
    )
    rig.worker("east", threads=2)
    # AND a first run that upgraded east-00 (same model): its ~5 s ICU is in the store's journal
    proc, report = rig.upgrade("--cluster", "east-00")
    assert rig.finish(proc, report)["code"] == 0
    journal = records(rig, "rb:journal:east-00", "r")
    assert [r.get("model") for r in journal if r["event"] == "icu-sending"] == ["SRX345"]
    past = [float(x) for x in rig.r.lrange("rb:icu-times:SRX345", 0, -1)]
    assert len(past) == 1 and 0 < past[0] < 600, past  # the fleet's history, kept in the store
    # WHEN east-01 is upgraded
    proc, report = rig.upgrade("--cluster", "east-01")
    result = rig.finish(proc, report)
    # THEN its estimate is that past ICU (as on the local engine, docs/operators/unattended.md):
    # it fits
    c = result["report"]["clusters"]["east-01"]
    assert (result["code"], c["outcome"]) == (0, "ok"), c
    assert icu_sends(rig.audit()) == {"east-00": 1, "east-01": 1}


@pytest.mark.parametrize(
    ("answer", "flags"),
    [
        ("approve", ("--canary", "1", "--pause-after-canary")),
        ("reject", ("--waves", "1,100%", "--pause-between-waves")),
    ],
)
def test_a_celery_run_paused_after_its_canary_enqueues_nothing_until_approved(
    rig: CeleryRig, answer: str, flags: tuple[str, ...]
) -> None:
    import re
    import sys

    # GIVEN a fleet over two regions, upgraded with a first wave of one and a pause after it
    rig.lab("east", 2)
    rig.lab("west", 1)
    for region in ("east", "west"):
        rig.worker(region, threads=2)
    proc, report = rig.upgrade(*flags)
    out = report.with_suffix(".out")

    def paused() -> str | None:
        said = r"run (\S+): (?:the canary|wave 1 of 2) is ok; paused for approval"
        found = re.search(said, out.read_text())
        return found.group(1) if found else None

    run_id = str(wait_until(paused, 120, message="the coordinator paused"))
    # WHILE it waits: the canary's ICU only, no job of the rest on any queue
    assert sum(icus(rig.audit()).values()) == 1
    assert not rig.r.llen("runbooks.east") and not rig.r.llen("runbooks.west")
    # WHEN answered from another shell
    cmd = [sys.executable, "-m", "runbooks", answer, run_id, "--config", str(rig.config)]
    done = warm_processes.run(cmd, capture_output=True, text=True, timeout=60, env=rig.env())
    assert done.returncode == 0, done.stderr
    result = rig.finish(proc, report)
    if answer == "reject":  # THEN nothing more was enqueued: the rest is not started
        rest = {n: o for n, o in outcomes_of(result).items() if o != "ok"}
        assert sorted(rest.values()) == ["not-started", "not-started"], result["out"]
        assert sum(icus(rig.audit()).values()) == 1 and result["code"] == 1
        return
    # THEN the rest is enqueued and upgraded, one ICU per cluster
    assert result["code"] == 0, result["out"]
    assert set(outcomes_of(result).values()) == {"ok"}
    assert sorted(icus(rig.audit()).values()) == [1, 1, 1]
