"""abort and recover end to end against the simulator's documented outcomes."""

from __future__ import annotations

import signal

import pytest

from tests.e2e.conftest import both_transports, destructive, kill_group, wait_until

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
ABORT, ROLLBACK, REBOOT = "abort-in-service-upgrade", "request-package-rollback", "request-reboot"


def releases(lab, cluster: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    nodes = lab.state()["clusters"][cluster]["nodes"]
    return {n: nodes[n]["release"] for n in nodes}


@pytest.mark.parametrize(
    ("phase", "outcome", "final", "transport"),
    [
        ("validate", "ok", OLD, "napalm"),
        ("push", "ok", OLD, "napalm"),
        ("install-secondary", "ok", OLD, "napalm"),
        ("install-primary", "ok", OLD, "napalm"),
        ("failover", "ok", OLD, "napalm"),
        ("secondary-reboot", "ok", OLD, "napalm"),  # inconsistent, then recovered
        ("primary-reboot", "too-late", NEW, "napalm"),
        ("secondary-reboot", "ok", OLD, "asyncssh"),  # parity: abort, then recover
    ],
)
def test_abort_at_every_phase(make_lab, runbooks_for, phase, outcome, final, transport) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an ICU somebody started, now in `phase`; it stands still until the abort reaches
    # the cluster (phase-holds), so a loaded machine cannot let the phase end first
    lab = make_lab(
        [{"name": "c1", "state": "icu-in-progress", "icu_phase": phase, "faults": ["phase-holds"]}],
        speed=300,
    )
    ops = runbooks_for(lab)
    # WHEN abort runs (an ICU before its first install is done shows nothing: --even-if-idle)
    invisible = phase in ("validate", "push", "install-secondary")
    result = ops.run("abort", "--cluster", "c1", *(["--even-if-idle"] if invisible else []))
    # THEN the outcome matches the documented one and the cluster ends consistent and healthy
    c = result.cluster("c1")
    assert c["outcome"] == outcome, c
    assert c["state"] == "healthy", c
    assert releases(lab, "c1") == {"node0": final, "node1": final}
    audit = [r for r in lab.audit() if r["cluster"] == "c1"]
    aborts = [r for r in audit if r["rpc"] == ABORT]
    # the first abort goes to the RG0 primary of the moment: node1 once node0 is rebooting
    assert aborts and aborts[0]["node"] == ("node1" if phase == "primary-reboot" else "node0")
    if phase == "secondary-reboot":
        assert "inconsistent" in c["detail"] and "recovered" in c["detail"]
        secondary = [r["rpc"] for r in destructive(audit) if r["node"] == "node1"]
        assert secondary == [ABORT, ROLLBACK, REBOOT]
    assert result.code == (0 if outcome == "ok" else 1)


def test_abort_of_an_invisible_icu_needs_even_if_idle(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an ICU somebody started seconds ago, still validating: the device shows nothing
    # (phase-holds: the validation does not end before the look, however loaded the machine)
    lab = make_lab(
        [
            {
                "name": "c1",
                "state": "icu-in-progress",
                "icu_phase": "validate",
                "faults": ["phase-holds"],
            }
        ],
        speed=300,
    )
    # WHEN abort runs without --even-if-idle
    result = runbooks_for(lab).run("abort", "--cluster", "c1")
    # THEN nothing is sent, and the report says why and what to do
    c = result.cluster("c1")
    assert c["outcome"] == "skipped" and "--even-if-idle" in c["detail"], c
    assert destructive(lab.audit()) == []
    assert result.code == 0


def test_abort_no_recover_reports_the_command(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # phase-holds: the abort reaches the cluster during the secondary's reboot, however slow
    lab = make_lab(
        [
            {
                "name": "c1",
                "state": "icu-in-progress",
                "icu_phase": "secondary-reboot",
                "faults": ["phase-holds"],
            }
        ],
        speed=300,
    )
    result = runbooks_for(lab).run("abort", "--cluster", "c1", "--no-recover")
    c = result.cluster("c1")
    assert c["outcome"] == "inconsistent" and c["state"] == "inconsistent"
    assert "python -m runbooks recover --cluster c1" in c["detail"]
    assert result.code == 1
    assert [r["rpc"] for r in destructive(lab.audit())] == [ABORT]


def test_abort_skips_a_cluster_with_no_icu(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(count=2)
    result = runbooks_for(lab).run("abort")
    assert result.code == 0
    assert {c["outcome"] for c in result.report["clusters"].values()} == {"skipped"}
    assert destructive(lab.audit()) == []


def test_thirty_inconsistent_clusters_recovered_in_order(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN 30 clusters a failed window left inconsistent (secondary node1 on the new release)
    lab = make_lab([{"name": f"c{i:02d}", "state": "inconsistent"} for i in range(30)])
    # WHEN one recover run sweeps them
    result = runbooks_for(lab).run("recover", "--workers", "30")
    # THEN each is recovered, healthy, on one release
    not_ok = {n: c["detail"] for n, c in result.report["clusters"].items() if c["outcome"] != "ok"}
    assert result.code == 0, (result.stderr, not_ok)
    audit = lab.audit()
    for i in range(30):
        name = f"c{i:02d}"
        c = result.cluster(name)
        assert c["outcome"] == "ok" and c["state"] == "healthy", c
        assert releases(lab, name) == {"node0": OLD, "node1": OLD}
        mine = destructive([r for r in audit if r["cluster"] == name])
        # exactly abort < rollback(node 1) < reboot, all on the secondary; nothing to the primary
        assert [(r["node"], r["rpc"]) for r in mine] == [
            ("node1", ABORT),
            ("node1", ROLLBACK),
            ("node1", REBOOT),
        ]
        assert mine[1]["args"]["node"] == "1"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"state": "inconsistent", "faults": ["inconsistent-primary"]}, "primary"),
        ({"state": "node-down"}, "unreachable"),
        ({"state": "inconsistent", "faults": ["roles-disagree"]}, "disagree"),
        # node1 on 24.4R1, node0 on 24.2R2: rollback back across 24.4R1 is not allowed on
        # SRX300-family (tasks/upgrade_paths.py): refused before the abort, nothing sent
        (
            {"state": "inconsistent", "release": "24.2R2-S1.3", "target": "24.4R1.9"},
            "cannot roll back from 24.4R1.9 to 24.2R2-S1.3",
        ),
    ],
)
def test_recover_refuses_ambiguous_clusters(make_lab, runbooks_for, spec, reason) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab([{"name": "c1", **spec}])
    result = runbooks_for(lab).run("recover")
    c = result.cluster("c1")
    assert c["outcome"] == "refused", c
    assert reason in c["detail"]
    assert result.code == 1
    assert destructive(lab.audit()) == []


@pytest.mark.parametrize(
    ("fault", "outcome", "words"),
    [
        ("rollback-fails", "failed", "rollback"),
        ("reboot-hangs", "failed", "reboot"),
        ("reboot-reply-lost", "ok", "recovered"),
    ],
)
def test_recover_faults(make_lab, runbooks_for, fault, outcome, words) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab([{"name": "c1", "state": "inconsistent", "faults": [fault]}])
    result = runbooks_for(lab).run("recover")
    c = result.cluster("c1")
    assert c["outcome"] == outcome, c
    assert words in c["detail"]
    steps = [r["rpc"] for r in destructive(lab.audit())]
    if fault == "rollback-fails":
        assert steps == [ABORT, ROLLBACK]  # stopped there: no reboot into a bad state
        assert c["state"] == "inconsistent"


@pytest.mark.parametrize("fault", ["session-drop", "abort-slow"])
def test_abort_survives_session_drops_and_slow_landing(make_lab, runbooks_for, fault) -> None:  # type: ignore[no-untyped-def]
    # session-drop: the primary closes every session while we wait for the abort to land;
    # abort-slow: the current operation runs ten simulated minutes longer before it lands;
    # phase-holds: the install stands still until the abort reaches it (no race with the clock)
    lab = make_lab(
        [
            {
                "name": "c1",
                "state": "icu-in-progress",
                "icu_phase": "install-primary",
                "faults": [fault, "phase-holds"],
            }
        ],
        speed=300,
    )
    result = runbooks_for(lab).run("abort", "--cluster", "c1")
    c = result.cluster("c1")
    assert c["outcome"] == "ok", c
    aborts = [r for r in lab.audit() if r["rpc"] == ABORT]
    assert [r["node"] for r in aborts if r["node"] == "node0"] == ["node0"]  # never resent
    # it landed after the install, before any reboot: nothing for the secondary to recover
    assert [r for r in destructive(lab.audit()) if r["node"] == "node1"] == []
    assert releases(lab, "c1") == {"node0": OLD, "node1": OLD}


@both_transports
def test_recover_resumes_at_the_reboot(make_lab, runbooks_for, transport) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a recovery killed after the rollback took effect, its reply still outstanding
    lab = make_lab([{"name": "c1", "state": "inconsistent", "faults": ["rollback-reply-lost"]}])
    ops = runbooks_for(lab)
    proc, _ = ops.start("recover", "--cluster", "c1")
    wait_until(
        lambda: any(r["rpc"] == ROLLBACK for r in lab.audit()), timeout=60, message="rollback"
    )
    kill_group(proc, signal.SIGKILL)
    before = len(lab.audit())
    assert REBOOT not in [r["rpc"] for r in lab.audit()]
    # WHEN recover runs again
    result = ops.run("recover", "--cluster", "c1")
    # THEN the next command the node receives is the reboot
    assert result.cluster("c1")["outcome"] == "ok", result.cluster("c1")
    after = destructive(lab.audit()[before:])
    assert [r["rpc"] for r in after] == [REBOOT]


def test_a_lost_rollback_reply_is_checked_on_the_device_not_resent(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an inconsistent cluster whose rollback takes effect but never answers
    lab = make_lab([{"name": "c1", "state": "inconsistent", "faults": ["rollback-reply-lost"]}])
    ops = runbooks_for(lab)
    # WHEN it is recovered
    result = ops.run("recover", "--cluster", "c1")
    # THEN the device's pending install stands for the reply: one rollback, then the reboot
    c = result.cluster("c1")
    assert c["outcome"] == "ok" and c["state"] == "healthy", c
    node1 = [r["rpc"] for r in destructive(lab.audit()) if r["node"] == "node1"]
    assert node1 == [ABORT, ROLLBACK, REBOOT]
    notes = [r.get("message", "") for r in ops.journal("c1") if r.get("event") == "note"]
    assert any("rollback: no reply" in n for n in notes), notes


def test_recover_dry_run_sends_nothing(make_lab, runbooks_for) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab([{"name": "c1", "state": "inconsistent"}])
    result = runbooks_for(lab).run("recover", "--dry-run")
    c = result.cluster("c1")
    assert c["outcome"] == "would-recover" and "would recover node1" in c["detail"]
    assert destructive(lab.audit()) == []
