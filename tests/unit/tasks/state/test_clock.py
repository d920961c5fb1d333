"""The run's clock (tasks.state.clock): the plans read and wait only through it, and a
virtual clock moves only when the driver waits, with its participant threads in step."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from tasks.state.clock import SYSTEM_CLOCK, VirtualClock

ROOT = Path(__file__).resolve().parents[4]
DIRECT = {("time", "time"), ("time", "monotonic"), ("time", "sleep")}


def direct_time_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        name = (
            node.value.id
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            else ""
        )
        if isinstance(node, ast.Attribute) and (name, node.attr) in DIRECT:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} time.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "time":
            names = {a.name for a in node.names} & {"time", "monotonic", "sleep"}
            if names:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from time import")
    return found


def test_the_plans_read_and_wait_only_through_the_runs_clock() -> None:
    plans = sorted((ROOT / "tasks" / "plans").glob("*.py"))
    paths = [*plans, ROOT / "tasks" / "state" / "run_context.py"]
    assert [hit for p in paths for hit in direct_time_calls(p)] == []


def test_the_system_clock_is_real_time() -> None:
    import time

    assert SYSTEM_CLOCK.real
    assert abs(SYSTEM_CLOCK.time() - time.time()) < 1
    assert abs(SYSTEM_CLOCK.monotonic() - time.monotonic()) < 1


def test_a_virtual_clock_moves_only_when_told() -> None:
    clock = VirtualClock(start=1000.0)
    assert (clock.time(), clock.monotonic()) == (1000.0, 0.0)
    clock.sleep(90)
    assert (clock.time(), clock.monotonic()) == (1090.0, 90.0)
    # the driver parks for a reply that never comes: the time moves to its deadline
    assert clock.park(lambda: False, deadline=1150.0) is False
    assert clock.time() == 1150.0


def test_a_participant_waits_for_the_driver_and_is_in_step_with_it() -> None:
    clock = VirtualClock(start=0.0)
    seen: list[float] = []

    def wait_for_t100() -> None:
        clock.park(lambda: clock.time() >= 100, deadline=10_000)
        seen.append(clock.time())

    worker = threading.Thread(target=wait_for_t100, daemon=True)
    clock.start(worker)  # returns once it is parked
    assert worker.is_alive() and seen == []
    clock.sleep(60)
    assert seen == []
    clock.sleep(60)  # returns only once the participant has seen the time and ended
    assert seen == [120.0] and not worker.is_alive()


def test_joining_a_parked_participant_waits_its_timeout_in_virtual_time() -> None:
    clock = VirtualClock(start=0.0)
    worker = threading.Thread(target=lambda: clock.park(lambda: False, 500), daemon=True)
    clock.start(worker)
    clock.join(worker, timeout=30)
    assert clock.time() == 30 and worker.is_alive()
    clock.close()  # a run's end: every wait ends
    worker.join(5)
    assert not worker.is_alive()
