"""The local locks: one holder per device across state directories, the mailbox an abort
reaches the holder through, and the fence that stops a holder that did not answer."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from simulator.testing import wait_until
from tasks.state.locks import FlockLocks, device_key

DEVICE = device_key([("127.0.0.1", 40001), ("127.0.0.1", 40002)])


def test_the_device_key_is_the_nodes_addresses_in_any_order() -> None:
    a = device_key([("10.0.0.1", 830), ("10.0.0.2", 830)])
    assert a == device_key([("10.0.0.2", 830), ("10.0.0.1", 830)])
    assert a != device_key([("10.0.0.1", 830), ("10.0.0.3", 830)])


def test_a_device_is_held_once_whatever_the_state_directory(tmp_path: Path) -> None:
    mine = FlockLocks(tmp_path / "a", "run-a")
    other = FlockLocks(tmp_path / "b", "run-b")
    assert mine.acquire("c1", DEVICE, "upgrade") is None
    held = other.acquire("branch-1", DEVICE, "abort")  # another name, another state dir
    assert held is not None and "run run-a" in held and "outside this state directory" in held
    mine.release("c1")
    assert other.acquire("branch-1", DEVICE, "abort") is None
    # the new holder reads what the other state directory journaled for the device
    journal = tmp_path / "a" / "journal"
    journal.mkdir(parents=True)
    (journal / "c1.jsonl").write_text(json.dumps({"event": "icu-sending", "ts": 1}) + "\n")
    assert other.foreign_history("branch-1") == [{"event": "icu-sending", "ts": 1}]
    other.release_all()


def test_an_abort_request_is_acknowledged_answered_and_withdrawn(tmp_path: Path) -> None:
    holder = FlockLocks(tmp_path / "a", "run-a")
    asker = FlockLocks(tmp_path / "b", "run-b")
    assert holder.acquire("c1", DEVICE, "upgrade") is None
    woken = threading.Event()

    def plan() -> None:  # the holder's poll, woken by the request
        holder.wait_for_request("c1", 60)
        woken.set()

    threading.Thread(target=plan, daemon=True).start()
    request = asker.request_abort("c1", DEVICE, "run-b")
    assert asker.request_abort("c1", DEVICE, "run-c") == request  # a second abort joins it
    wait_until(lambda: woken.is_set(), 5, message="the holder's poll woken")
    assert holder.abort_requested("c1") == request
    reply = asker.reply("c1", DEVICE, request)
    assert reply is not None and reply.acked and reply.job == "upgrade" and reply.run == "run-a"
    holder.answer("c1", stage="acting", note="abort sent")
    holder.answer("c1", stage="done", verdict={"outcome": "aborted"}, changed=True)
    reply = asker.reply("c1", DEVICE, request)
    assert reply is not None and reply.notes == ["abort sent"]
    assert reply.verdict == {"outcome": "aborted"} and reply.changed
    asker.withdraw("c1", DEVICE, request)
    assert not (Path(os.environ["RUNBOOKS_COORD_DIR"]) / "aborts" / f"{DEVICE}.json").exists()
    holder.release_all()


def test_a_stale_or_orphaned_request_is_never_acted_on(tmp_path: Path) -> None:
    holder = FlockLocks(tmp_path / "a", "run-a")
    asker = FlockLocks(tmp_path / "b", "run-b")
    request = asker.request_abort("c1", DEVICE, "run-b")
    path = Path(os.environ["RUNBOOKS_COORD_DIR"]) / "aborts" / f"{DEVICE}.json"
    old = time.time() - 60
    os.utime(path, (old, old))  # nobody renewed it: its requester is gone
    assert holder.acquire("c1", DEVICE, "upgrade") is None
    holder.wait_for_request("c1", 0.6)  # three looks of the watcher
    assert holder.abort_requested("c1") is None
    assert asker.reply("c1", DEVICE, request) is None
    holder.release_all()


def test_a_holder_fenced_off_by_a_take_over_knows_it(tmp_path: Path) -> None:
    holder = FlockLocks(tmp_path / "a", "run-a")
    asker = FlockLocks(tmp_path / "b", "run-b")
    assert holder.acquire("c1", DEVICE, "upgrade") is None
    assert holder.fenced_off("c1") is None
    asker.take_over("c1", DEVICE, "run-b")
    taken = holder.fenced_off("c1")
    assert taken is not None and "run run-b" in taken
    assert asker.fenced_off("c1") is None  # the new holder's fence is the current one
    asker.release_all()
    holder.release_all()


def test_a_run_busy_with_a_wait_tells_the_asker_instead_of_being_taken_over(
    tmp_path: Path,
) -> None:
    from tests.unit.tasks.plans.test_plan_decisions import cluster_run

    run = cluster_run(tmp_path / "a")
    run.device = DEVICE
    assert run.context.locks.acquire("c1", DEVICE, "upgrade") is None
    asker = FlockLocks(tmp_path / "b", "run-b")
    request = asker.request_abort("c1", DEVICE, "run-b")
    run.context.locks.wait_for_request("c1", 5)
    # WHEN the run, verifying, polls: it takes the request and says what it waits for
    run.tell_busy("both nodes on the target and the cluster healthy")
    assert run.request == request
    reply = asker.reply("c1", DEVICE, request)
    assert reply is not None and reply.stage == "acting"
    assert reply.notes == [
        "busy until both nodes on the target and the cluster healthy; "
        "the abort is answered at the end of it"
    ]
    run.context.locks.release_all()
