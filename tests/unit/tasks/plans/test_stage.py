"""Staging's pure parts: what a complete copy is, where it comes from, the fleet-wide slots,
the deadline, and the live transfer view."""

from __future__ import annotations

import hashlib
import multiprocessing
import threading
from pathlib import Path
from types import SimpleNamespace

from runbooks.output.transfer_lines import TransferView
from simulator.testing import wait_until
from tasks.events import Event, EventKind
from tasks.plans.stage import package_source
from tasks.plans.transfer import Expected, StageSpec, TransferSlots, deadline
from tasks.state.settings import Target

TARGET = Target("24.2R2-S1.3", "/var/tmp/junos.tgz", 1000, "ABCD", None)


class _Host(dict):
    pass


def test_expected_of_a_file_is_read_in_pieces(tmp_path: Path) -> None:
    path = tmp_path / "p.tgz"
    data = b"x" * (3 << 20) + b"tail"
    path.write_bytes(data)
    got = Expected.of_file(path)
    assert got.size == len(data)
    assert got.md5 == hashlib.md5(data).hexdigest()
    assert got.algorithm == "sha256" and got.digest == hashlib.sha256(data).hexdigest()


def test_expected_of_the_inventory_needs_size_and_a_checksum() -> None:
    assert Expected.of_target(TARGET) == Expected(1000, "ABCD", None)
    assert Expected.of_target(TARGET).digest == "abcd"  # type: ignore[union-attr]
    assert Expected.of_target(Target("r", "/var/tmp/p", None, "abcd")) is None
    assert Expected.of_target(Target("r", "/var/tmp/p", 10, None, None)) is None


def test_source_directory_url_gets_the_package_name() -> None:
    host = _Host(package_url="http://h/images/")
    assert package_source(StageSpec(), host, TARGET) == "http://h/images/junos.tgz"
    assert package_source(StageSpec(url="ftp://h/x.tgz"), host, TARGET) == "ftp://h/x.tgz"
    assert package_source(StageSpec(push=Path("/tmp/f")), host, TARGET) == "/tmp/f"
    assert package_source(StageSpec(), _Host(), TARGET) is None


def test_deadline_is_size_at_the_minimum_rate_plus_the_rpc_timeout() -> None:
    run = SimpleNamespace(timing=SimpleNamespace(rpc_timeout=60.0))
    spec = StageSpec(min_rate_mbps=8.0)
    assert deadline(Expected(1_000_000_000, "a"), spec, run) == 1000 + 60  # type: ignore[arg-type]


def test_transfer_slots_hold_at_most_the_limit() -> None:
    # GIVEN six copies for two slots, each holding its slot until told to end
    slots = TransferSlots(2)
    inside, peak, lock = [0], [0], threading.Lock()
    refused: set[int] = set()  # copies whose wait for a slot has run out once (`check`)
    end = threading.Event()

    def check() -> None:
        with lock:
            refused.add(threading.get_ident())

    def copy() -> None:
        with slots.slot(check):
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            end.wait(30)
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=copy) for _ in range(6)]
    for t in threads:
        t.start()
    # WHEN two copies are inside and each of the four others has been refused a slot
    wait_until(lambda: inside[0] == 2 and len(refused) == 4, 10, message="4 copies refused")
    # THEN none of those got in; once the two end, the others get through, two at a time
    assert peak[0] == 2
    end.set()
    for t in threads:
        t.join(10)
    assert peak[0] == 2 and inside[0] == 0


def _event(phase: str, **data: object) -> Event:
    return Event(
        0.0, "r", "stage", "br-1", EventKind.TRANSFER, {"node": "node0", "phase": phase, **data}
    )


def test_transfer_view_rows_and_fleet_total() -> None:
    view = TransferView()
    view.on_event(_event("started", total=100))
    view.on_event(_event("progress", bytes=40, total=100))
    tasks = {t.description: t for t in view.progress.tasks}
    assert tasks["br-1 node0"].completed == 40 and tasks["fleet"].completed == 40
    view.on_event(_event("done", total=100, bytes=100))
    tasks = {t.description: t for t in view.progress.tasks}
    assert "br-1 node0" not in tasks and tasks["fleet"].completed == 100
    assert view.renderable() is not None


def test_transfer_slots_are_shared_by_forked_worker_processes() -> None:
    # GIVEN six worker processes for three slots, each holding its slot until told to end
    ctx = multiprocessing.get_context("fork")
    slots = TransferSlots(3)
    inside, peak, refused = ctx.Value("i", 0), ctx.Value("i", 0), ctx.Value("i", 0)
    end = ctx.Event()

    def work() -> None:
        told: list[bool] = []

        def check() -> None:  # this process's wait for a slot has run out once
            if not told:
                told.append(True)
                with refused.get_lock():
                    refused.value += 1

        with slots.slot(check):
            with inside.get_lock():
                inside.value += 1
                peak.value = max(peak.value, inside.value)
            end.wait(30)
            with inside.get_lock():
                inside.value -= 1

    procs = [ctx.Process(target=work) for _ in range(6)]
    for p in procs:
        p.start()
    # WHEN three are inside and each of the three others has been refused a slot
    wait_until(lambda: inside.value == 3 and refused.value == 3, 15, message="3 refused")
    # THEN no fourth process got in
    assert peak.value == 3
    end.set()
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0] * 6
    assert peak.value == 3 and inside.value == 0
