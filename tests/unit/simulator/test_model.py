"""The simulator's device model: ICU, abort at every phase, recovery in and out of order."""

from __future__ import annotations

import pytest

from simulator.model import DURATIONS, PHASES, Cluster, Node

OLD, NEW, ROLLBACK = "23.4R2-S3.9", "24.2R2-S1.3", "23.2R2.21"
PKG = "/var/tmp/junos-srxsme-24.2R2-S1.3.tgz"


def make(model: str = "SRX345") -> Cluster:
    nodes = {n: Node(n, OLD, ROLLBACK, booted_at=-1000.0) for n in ("node0", "node1")}
    nodes["node0"].files[PKG] = 456_000_000
    return Cluster("c1", model, nodes)


def run_until(c: Cluster, predicate, limit: float = 20_000) -> None:  # type: ignore[no-untyped-def]
    t = c.now
    while not predicate(c):
        t += 5
        assert t - c.now < limit, "condition never reached"
        c.tick(t)


def releases(c: Cluster) -> tuple[str, str]:
    return c.nodes["node0"].release, c.nodes["node1"].release


def test_full_icu() -> None:
    c = make()
    ok, _ = c.start_icu("node0", PKG, NEW, reboot=False)
    assert ok
    run_until(c, lambda c: c.phase is None and all(n.up for n in c.nodes.values()))
    assert releases(c) == (NEW, NEW)
    assert c.primary == "node1"  # the upgraded secondary took over
    assert c.log == list(PHASES)
    assert all(n.pending is None for n in c.nodes.values())
    assert sum(DURATIONS.values()) <= c.now <= sum(DURATIONS.values()) + 120


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda c: c.nodes["node0"].files.clear(), "not found"),
        (lambda c: setattr(c.nodes["node1"], "free_bytes", 1000), "not enough space on node1"),
        (lambda c: setattr(c.nodes["node1"], "release", NEW), "different software"),
    ],
)
def test_validation_refusals(setup, words) -> None:  # type: ignore[no-untyped-def]
    c = make()
    setup(c)
    ok, text = c.start_icu("node0", PKG, NEW, reboot=False)
    assert not ok and words in text
    assert c.phase is None


def test_icu_only_on_primary_and_high_end_needs_reboot() -> None:
    assert "primary" in make().start_icu("node1", PKG, NEW, reboot=False)[1]
    ok, text = make("SRX4200").start_icu("node0", PKG, NEW, reboot=False)
    assert not ok and text == "'reboot' keyword must be specified. Aborting ISSU"


@pytest.mark.parametrize("phase", PHASES)
def test_abort_at_every_phase(phase: str) -> None:
    c = make()
    c.start_icu("node0", PKG, NEW, reboot=False)
    run_until(c, lambda c: c.phase == phase)
    c.abort("node0")
    run_until(c, lambda c: c.phase is None and all(n.up for n in c.nodes.values()))
    if PHASES.index(phase) < PHASES.index("secondary-reboot"):
        assert releases(c) == (OLD, OLD)  # rolled back cleanly
        assert all(n.pending is None for n in c.nodes.values())
    elif phase == "secondary-reboot":
        assert releases(c) == (OLD, NEW)  # inconsistent
        assert c.nodes["node1"].stale_icu and c.primary == "node0"
    else:
        assert releases(c) == (NEW, NEW)  # too late: the ICU completed


def inconsistent() -> Cluster:
    c = make()
    c.start_icu("node0", PKG, NEW, reboot=False)
    run_until(c, lambda c: c.phase == "secondary-reboot")
    c.abort("node0")
    run_until(c, lambda c: c.phase is None and all(n.up for n in c.nodes.values()))
    return c


def test_recovery_in_order() -> None:
    c = inconsistent()
    assert "cleared" in c.abort("node1")
    ok, text = c.rollback("node1", 1)
    assert ok and f'"{OLD}" will become active' in text
    c.reboot("node1")
    run_until(c, lambda c: c.nodes["node1"].up and c.rg_status("node1") == "secondary")
    assert releases(c) == (OLD, OLD)


def test_recovery_out_of_order_stays_inconsistent() -> None:
    c = inconsistent()
    ok, text = c.rollback("node1", 1)  # rollback before the abort
    assert not ok and "rollback aborted" in text
    c.reboot("node1")  # reboot without a rollback
    run_until(c, lambda c: c.nodes["node1"].up)
    assert releases(c) == (OLD, NEW)


def test_reboot_rejoins_through_hold_and_cold_sync() -> None:
    c = make()
    c.reboot("node1")
    assert c.rg_status("node1") == "lost"
    run_until(c, lambda c: c.nodes["node1"].up)
    assert c.rg_status("node1") == "hold" and c.monitor_failures("node1") == ("CS",)
    run_until(c, lambda c: not c.monitor_failures("node1"))
    assert c.rg_status("node1") == "secondary"


def test_rollback_cancels_a_leftover_pending_install() -> None:
    c = make()
    c.nodes["node1"].pending = NEW
    ok, text = c.rollback("node1", 1)
    assert ok and c.nodes["node1"].pending is None and OLD in text


@pytest.mark.parametrize("phase", PHASES)
def test_lab_icu_in_progress_starts_inside_the_named_phase(phase: str) -> None:
    from simulator.__main__ import make_cluster

    sc = make_cluster("c1", "SRX345", "icu-in-progress", frozenset(), phase, now=1_000_000.0)
    assert sc.model.phase == phase


def test_phase_holds_stands_still_until_an_abort_reaches_the_cluster() -> None:
    from simulator.__main__ import make_cluster

    t0 = 1_000_000.0
    c = make_cluster(
        "c1", "SRX345", "icu-in-progress", frozenset({"phase-holds"}), "secondary-reboot", now=t0
    ).model
    shown = c.now
    c.tick(t0 + 10 * DURATIONS["secondary-reboot"])  # far past the phase's end on the lab clock
    assert c.phase == "secondary-reboot" and not c.nodes["node1"].up  # nothing moved
    assert c.now == shown and c.next_event() is None
    assert "will stop after current operation" in c.abort("node0")
    due = c.next_event()  # the rest of the phase, now on the lab's clock
    assert due is not None and t0 + 10 * DURATIONS["secondary-reboot"] < due
    c.tick(due + 4 * 3600)
    assert c.phase is None and c.nodes["node1"].release == NEW  # landed after the reboot
    assert c.nodes["node0"].release == OLD
