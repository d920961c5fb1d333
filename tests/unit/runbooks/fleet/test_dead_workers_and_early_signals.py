"""Issue 14's fixes without a lab: which --restore-primary placements preempt undoes, the
in-flight slots of a dead worker process, and signals caught before the runner exists."""

from __future__ import annotations

import os
import signal
import time

from runbooks.cli import signals
from tasks.plans.verify import preempt_blocks, preempt_winner
from tasks.state.gate import SharedGate
from tests.factories import status


def test_preempt_returns_an_rg_to_its_higher_priority() -> None:
    st = status("node0")  # node0 200, node1 100; preempt on RG1 only
    why = preempt_blocks(st, "node1")
    assert why is not None and "RG1 has preempt" in why and "200 over 100" in why
    assert "RG0" not in why  # no preempt on RG0: a manual failover there lasts
    assert preempt_blocks(st, "node0") is None


def test_preempt_on_equal_priorities_goes_to_node0() -> None:
    st = status("node1", priority1=200)
    group = st.group(1)
    assert group is not None and preempt_winner(group) == "node0"
    assert preempt_blocks(st, "node1") is not None
    assert preempt_blocks(st, "node0") is None


def test_a_priority_that_is_not_the_configured_one_decides_nothing() -> None:
    st = status("node0", failures=("CS",), priority1=0)  # cold sync: priority 0 on node1
    group = st.group(1)
    assert group is not None and preempt_winner(group) is None
    assert preempt_blocks(None, "node1") is None


def test_the_slots_of_a_dead_process_can_be_reclaimed() -> None:
    gate = SharedGate(max_in_flight=1)
    pid = os.fork()
    if pid == 0:  # a worker that takes the only slot and dies holding it
        gate._take()
        os._exit(0)
    os.waitpid(pid, 0)
    assert gate._take() is None  # nobody else can start
    assert gate.reclaim(pid) == 1
    with gate.slot():  # free again
        assert gate.reclaim(pid) == 0


def test_interrupt_is_seen_across_a_fork() -> None:
    gate = SharedGate()
    pid = os.fork()
    if pid == 0:
        gate.interrupt("abort")
        os._exit(0)
    os.waitpid(pid, 0)
    assert gate.interrupted() and gate.interrupt_action == "abort"


def test_a_signal_before_the_runner_is_remembered_and_handed_over() -> None:
    saved = {sig: signal.getsignal(sig) for sig in signals.SIGNALS}
    try:
        signals.catch_early()
        os.kill(os.getpid(), signal.SIGTERM)
        end = time.monotonic() + 5
        while not signals._pending and time.monotonic() < end:
            time.sleep(0.01)
        assert signals.take_pending() == [signal.SIGTERM]
        assert signals.take_pending() == []
        signals.release(replay=False)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
