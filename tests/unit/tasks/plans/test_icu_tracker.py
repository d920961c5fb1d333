"""The phase tracker folds discrete observations into monotonic phases."""

from __future__ import annotations

from tasks.plans.icu import Baseline, Phase, Tracker, stopped_reason
from tasks.state.settings import DEFAULT_TIMING, Timing
from tests.factories import NEW, OLD, cluster, node, status

BASE = Baseline("node0", "node1", OLD, NEW, {"node0": 1000, "node1": 1000})
TIMING = Timing(**DEFAULT_TIMING)


def run(*views):  # type: ignore[no-untyped-def]
    tracker = Tracker(BASE, TIMING)
    seen = []
    for i, v in enumerate(views):
        moved = tracker.update(v, float(i))
        if moved:
            seen.append(moved)
    return tracker, seen


def test_full_icu_sequence() -> None:
    after = status("node1")
    tracker, seen = run(
        cluster(),
        cluster(n1=node("node1", pending="p")),
        cluster(node("node0", pending="p"), node("node1", pending="p")),
        cluster(node("node0", pending="p"), node("node1", reachable=False)),
        cluster(node("node0", pending="p"), node("node1", NEW, booted=2000)),
        cluster(node("node0", reachable=False), node("node1", NEW, booted=2000, st=after)),
        cluster(
            node("node0", NEW, booted=3000, st=after), node("node1", NEW, booted=2000, st=after)
        ),
    )
    assert seen == [
        Phase.SECONDARY_INSTALLED,
        Phase.PRIMARY_INSTALLED,
        Phase.SECONDARY_REBOOTING,
        Phase.SECONDARY_BACK,
        Phase.PRIMARY_REBOOTING,
        Phase.PRIMARY_BACK,
    ]
    assert tracker.phase is Phase.PRIMARY_BACK


def test_skipped_phases_and_never_backwards() -> None:
    tracker, seen = run(
        cluster(node("node0", pending="p"), node("node1", NEW, booted=2000)),
        cluster(n1=node("node1", pending="p")),  # stale-looking view must not move us back
    )
    assert seen == [Phase.SECONDARY_BACK]
    assert tracker.phase is Phase.SECONDARY_BACK


def test_secondary_unreachable_before_any_install_is_not_a_reboot() -> None:
    tracker, seen = run(cluster(n1=node("node1", reachable=False)))
    assert seen == [] and tracker.phase is Phase.STARTED


def test_deadline_per_phase() -> None:
    tracker = Tracker(BASE, TIMING, since=0.0)
    assert not tracker.overdue(TIMING.install_deadline - 1)
    assert tracker.overdue(TIMING.install_deadline + 1)


def test_stopped_by_device_before_secondary_reboot() -> None:
    idle = cluster()
    assert stopped_reason(idle, BASE, Phase.SECONDARY_INSTALLED, False)
    running = cluster(n1=node("node1", pending="p"))
    assert stopped_reason(running, BASE, Phase.SECONDARY_INSTALLED, False) is None
    # right after the start the device may not show anything yet
    assert stopped_reason(idle, BASE, Phase.STARTED, False) is None


def test_an_icu_the_device_never_ran_is_closed_after_install_deadline() -> None:
    tracker = Tracker(BASE, TIMING, sent_at=100.0)
    assert tracker.stopped(cluster(), 100.0 + TIMING.install_deadline - 1) is None
    assert "within install_deadline" in str(
        tracker.stopped(cluster(), 100.0 + TIMING.install_deadline + 1)
    )
    busy = cluster(n1=node("node1", pending="p"))
    assert tracker.stopped(busy, 100.0 + TIMING.install_deadline + 1) is None


def test_a_blip_of_the_secondary_does_not_hide_a_stop() -> None:
    # GIVEN one poll where the secondary did not answer (not a reboot: its boot time never moves)
    tracker, _ = run(
        cluster(n1=node("node1", pending="p")),
        cluster(node("node0", pending="p"), node("node1", reachable=False)),
    )
    assert tracker.phase is Phase.SECONDARY_REBOOTING and not tracker.secondary_rebooted
    # WHEN the device then reports the ICU over with nothing pending
    idle = cluster()
    # THEN the stop is still seen
    assert stopped_reason(idle, BASE, tracker.phase, tracker.secondary_rebooted)
    # but once its reboot is proven, an idle device is the ICU moving on, not a stop
    assert stopped_reason(idle, BASE, tracker.phase, True) is None


def test_secondary_back_on_old_release_is_a_stop() -> None:
    view = cluster(n1=node("node1", OLD, booted=2000))
    assert "came back on" in str(stopped_reason(view, BASE, Phase.SECONDARY_REBOOTING, True))


def test_an_icu_onto_another_release_than_the_target_is_followed_to_its_end() -> None:
    # GIVEN a package that held another release than the target said (issue 18, point 6)
    other = "22.4R3-S1.1"
    after = status("node1")
    _, seen = run(
        cluster(n1=node("node1", pending="p")),
        cluster(node("node0", pending="p"), node("node1", reachable=False)),
        cluster(node("node0", pending="p"), node("node1", other, booted=2000)),
        cluster(node("node0", other, booted=3000, st=after), node("node1", other, booted=2000)),
    )
    # THEN the phases are the ICU's own, not a stop, to the primary's return
    assert seen[-1] is Phase.PRIMARY_BACK
    assert (
        stopped_reason(
            cluster(node("node0", pending="p"), node("node1", other, booted=2000)),
            BASE,
            Phase.SECONDARY_REBOOTING,
            True,
        )
        is None
    )
