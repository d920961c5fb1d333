"""upgrade end to end over the real stack: the fleet and its exact RPC plan, the dry run, fleet
policy, signals and resume. Each pre-check, each fault during the ICU and the RG placement
after it are proven on the in-process lab (tests/unit/tasks/test_upgrade_jobs.py)."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.conftest import client_stacks, destructive, icu_sends, kill_group, wait_until

ICU = "request-package-in-service-upgrade"
ABORT = "abort-in-service-upgrade"
TARGET = "24.2R2-S1.3"
OLD = "23.4R2-S3.9"


def both_on(state: dict, cluster: str, release: str) -> bool:  # type: ignore[type-arg]
    nodes = state["clusters"][cluster]["nodes"]
    return all(nodes[n]["release"] == release and not nodes[n]["pending"] for n in nodes)


OBSERVE = [  # tasks.device.observe, per node
    "get-software-information",
    "get-chassis-cluster-status",
    "get-system-uptime-information",
    "request-package-checks-pending-install",
]
PREREQUISITES = ["get-chassis-cluster-interfaces", "get-alarm-information"]
PREREQUISITES += ["get-system-alarm-information"]
PACKAGE_CHECKS = ["file-list", "get-checksum-information", "get-system-storage"]
# the service snapshot, on the RG0 primary's session, just before the ICU
SNAPSHOT = ["get-interface-information", "get-security-associations-information"]
SNAPSHOT += ["get-route-summary-information", "get-alarm-information"]
SNAPSHOT += ["get-system-alarm-information", "get-flow-session-information"]
# each node's configuration saved (text and set form) before anything changes
CONFIG = ["get-configuration", "get-configuration"]
PLAN_BEFORE_ICU = {
    # then the ICU prerequisites, the package, checksum and space checks on the RG0 primary
    "node0": [*OBSERVE, *PREREQUISITES, *PACKAGE_CHECKS, *CONFIG, *SNAPSHOT],
    "node1": [*OBSERVE, *CONFIG],
}


def test_a_fleet_of_ten_upgraded_and_verified(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN 10 healthy clusters
    lab = make_lab(count=10)
    ops = runbooks_for(lab)
    # WHEN the fleet is upgraded with no further arguments
    result = ops.run("upgrade", "--workers", "10")
    # THEN every cluster is ok, both nodes verified on the target by the device itself
    assert result.code == 0, result.stderr + result.stdout
    state = lab.state()
    for name, c in result.report["clusters"].items():
        assert c["outcome"] == "ok", (name, c)
        assert c["state"] == "healthy"
        assert c["versions"] == {"node0": TARGET, "node1": TARGET}
        assert both_on(state, name, TARGET)
    audit = lab.audit()
    # the ICU command went exactly once per cluster, to the RG0 primary (node0)
    assert icu_sends(audit) == Counter({n: 1 for n in result.report["clusters"]})
    for name in result.report["clusters"]:
        mine = [r for r in audit if r["cluster"] == name]
        icu = [r for r in mine if r["rpc"] == ICU]
        assert icu[0]["node"] == "node0"
        assert icu[0]["args"]["package-name"].endswith(".tgz")
        assert icu[0]["args"].get("no-sync") is True
        # plan order, exactly: each node observed on its own session, then the pre-checks'
        # reads on the RG0 primary, then the ICU there; nothing else is destructive
        first_icu = mine.index(icu[0])
        for node, plan in PLAN_BEFORE_ICU.items():
            assert [r["rpc"] for r in mine[:first_icu] if r["node"] == node] == plan, (name, node)
        assert [r["rpc"] for r in destructive(mine)] == [ICU]
    # the per-cluster transcript holds the command and replies
    transcripts = list((ops.workdir / "state" / "runs").glob("*/transcripts/br-0001.log"))
    assert transcripts and "request-package-in-service-upgrade" in transcripts[0].read_text()
    # each node's configuration before and after, secrets kept there (0600) and nowhere else
    c = result.cluster("br-0001")
    saved = Path(c["config"]["dir"])
    assert sorted(p.name for p in saved.iterdir()) == sorted(
        f"{n}.{s}.{f}"
        for n in ("node0", "node1")
        for s in ("after", "before")
        for f in ("conf", "set")
    )
    before = (saved / "node0.before.set").read_text()
    assert "$9$lab.psk.Xy7Zq" in before and oct(saved.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in saved.iterdir())
    assert c["config"]["diff"]["node0"][-2:] == [
        f"-set version {OLD}",
        f"+set version {TARGET}",
    ], c["config"]
    shown = transcripts[0].read_text() + result.report_path.read_text() + result.stdout
    for secret in ("lab.psk.Xy7Zq", "k9Hx2QnRq0sF8mZ1", "lab-ro-community"):
        assert secret not in shown, secret


def test_dry_run_sends_nothing_destructive(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(count=4)
    result = runbooks_for(lab).run("upgrade", "--dry-run")
    assert result.code == 0, result.stderr
    for c in result.report["clusters"].values():
        assert c["outcome"] == "would-upgrade"
        assert "would send 'request system software in-service-upgrade" in c["detail"]
        assert c["plan"]["node"] == "node0"
    assert destructive(lab.audit()) == []
    # the plan is printed per cluster even without a terminal
    for name in result.report["clusters"]:
        assert name in result.stdout
    assert "dry-run: would send" in result.stdout
    assert result.stdout.splitlines()[0].split()[:3] == ["cluster", "outcome", "state"]


def test_an_upgrade_over_asyncssh_rides_out_the_icu_session_dropped(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # parity (the asyncssh transport): the ICU's session drops with its reply; the ICU is
    # followed to its verified end and never sent again
    lab = make_lab([{"name": "c1", "faults": ["session-drop"]}])
    result = runbooks_for(lab).run("upgrade", "--transport", "asyncssh")
    c = result.cluster("c1")
    assert c["outcome"] == "ok" and c["versions"] == {"node0": TARGET, "node1": TARGET}, c
    assert icu_sends(lab.audit())["c1"] == 1
    assert client_stacks(lab.audit()) == {"AsyncSSH"}


def test_canary_failure_stops_the_fleet(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    clusters = [{"name": "a-canary", "state": "healthy", "faults": ["package-missing"]}]
    clusters += [{"name": f"b-{i}", "state": "healthy"} for i in range(3)]
    lab = make_lab(clusters)
    result = runbooks_for(lab).run("upgrade", "--canary", "1")
    assert result.code == 1
    assert result.cluster("a-canary")["outcome"] == "failed"
    for i in range(3):
        c = result.cluster(f"b-{i}")
        assert c["outcome"] == "not-started"
        assert "canary failed: a-canary" in c["detail"]
    assert icu_sends(lab.audit()) == Counter()


def test_max_failures_halts_new_starts(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    clusters = [
        {"name": f"a-{i}", "state": "healthy", "faults": ["package-missing"]} for i in range(2)
    ]
    clusters += [{"name": f"b-{i}", "state": "healthy"} for i in range(3)]
    lab = make_lab(clusters)
    result = runbooks_for(lab).run("upgrade", "--workers", "1", "--max-failures", "1")
    assert result.code == 1
    outcomes = {n: c["outcome"] for n, c in result.report["clusters"].items()}
    assert outcomes["a-0"] == outcomes["a-1"] == "failed"
    assert {outcomes[f"b-{i}"] for i in range(3)} == {"not-started"}
    assert "max-failures" in result.cluster("b-0")["detail"]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_sigkill_mid_fleet_then_resume(make_lab, runbooks_for, processes) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a fleet upgrade in flight, slow enough to be caught mid-ICU
    lab = make_lab(count=6, speed=150)
    ops = runbooks_for(lab)
    proc, _ = ops.start("upgrade", "--workers", "6", "--processes", processes)
    wait_until(lambda: len(icu_sends(lab.audit())) == 6, timeout=60, message="all six ICUs sent")
    # WHEN the runbook is killed without warning
    kill_group(proc, signal.SIGKILL)
    # its locks name a process that no longer exists; the next run takes them over
    holder = (ops.workdir / "state" / "locks" / "br-0001.lock").read_text()
    assert ("pid " in holder) if processes != "1" else (f"pid {proc.pid}" in holder)
    # AND the same command is run again with --resume
    result = ops.run("upgrade", "--workers", "6", "--resume", timeout=300)
    # THEN no cluster received a second ICU and every cluster finished verified
    assert result.code == 0, result.stderr + result.stdout
    assert icu_sends(lab.audit()) == Counter({f"br-{i:04d}": 1 for i in range(1, 7)})
    state = lab.state()
    for name, c in result.report["clusters"].items():
        assert c["outcome"] in ("ok", "skipped"), (name, c)
        assert both_on(state, name, TARGET)
    assert all(c["outcome"] != "locked" for c in result.report["clusters"].values())
    reattached = [
        r
        for r in ops.journal("br-0001")
        if r.get("event") == "note" and "re-attaching" in r.get("message", "")
    ]
    finished_first = result.cluster("br-0001")["outcome"] == "skipped"
    assert reattached or finished_first


@pytest.mark.parametrize("processes", ["1", "2"])
def test_sigterm_with_on_interrupt_abort_aborts_in_flight_clusters(  # type: ignore[no-untyped-def]
    make_lab, runbooks_for, processes
) -> None:
    # GIVEN a fleet upgrade in flight
    lab = make_lab(count=2, speed=150)
    ops = runbooks_for(lab)
    proc, report = ops.start("upgrade", "--on-interrupt", "abort", "--processes", processes)
    wait_until(lambda: len(icu_sends(lab.audit())) == 2, timeout=60, message="both ICUs sent")
    # WHEN the scheduler stops the job
    proc.send_signal(signal.SIGTERM)
    result = ops.wait(proc, report, timeout=120)
    # THEN every in-flight ICU was aborted on its RG0 primary and the cluster left consistent
    assert result.code == 1
    assert "SIGTERM: no new clusters will start" in result.stderr
    state = lab.state()
    for name, c in result.report["clusters"].items():
        assert c["outcome"] == "aborted" and c["state"] == "healthy", c
        assert "interrupted" in c["detail"]
        releases = {n["release"] for n in state["clusters"][name]["nodes"].values()}
        assert len(releases) == 1
        aborts = [r for r in lab.audit() if r["cluster"] == name and r["rpc"] == ABORT]
        assert aborts and aborts[0]["node"] == "node0"


def test_credentials_in_a_package_url_are_never_written(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a package the device must fetch by FTP, with credentials in the URL
    lab = make_lab([{"name": "c1"}])
    ops = runbooks_for(lab)
    url = f"ftp://ops:Zq9secret@10.0.0.9/junos-srxsme-{TARGET}.tgz"
    events, log = ops.workdir / "events.jsonl", ops.workdir / "run.log"
    # WHEN the upgrade runs with it (the lab has no such file: the device refuses the ICU)
    result = ops.run(
        "upgrade",
        "--package",
        url,
        "--target-release",
        TARGET,
        "--events",
        str(events),
        "--log-file",
        str(log),
        "-v",
    )
    c = result.cluster("c1")
    assert c["outcome"] == "failed" and "ICU refused" in c["detail"], c
    # THEN the device got the real URL, and nothing we wrote holds the password
    sent = [r for r in lab.audit() if r["rpc"] == ICU]
    assert sent and sent[0]["args"]["package-name"] == url
    assert "ftp://ops:****@10.0.0.9" in c["detail"]
    written = [result.stdout, result.stderr, result.report_path.read_text()]
    written += [p.read_text() for p in (ops.workdir / "state").rglob("*") if p.is_file()]
    written += [events.read_text(), log.read_text()]
    assert not [w for w in written if "Zq9secret" in w]
