"""bench/scale_out.py's engine-only processes: the real worker and coordinator with the
upgrade plan replaced by a stub that takes the in-flight slot, writes the records a real ICU
writes (the conditional intent included), sleeps, and ends ok. Nothing talks to a device.

Usage: python bench/scale_out_stub.py SECONDS worker --region R ...   (a worker)
       python bench/scale_out_stub.py ENQ.json upgrade ...            (the coordinator; writes
                                                                      each cluster's enqueue time)
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runbooks.cli import signals  # noqa: E402
from tasks.events import EventKind  # noqa: E402
from tasks.plans.icu import Baseline  # noqa: E402
from tasks.state.run_context import Outcome  # noqa: E402
from tasks.vocabulary import NODES  # noqa: E402


def stub_plan(seconds: float) -> Any:
    def plan(task: Any, run: Any, target: Any, requested: Any) -> Outcome:
        del task, requested
        with run.gate.slot():
            run.emit(EventKind.STEP, step="start-icu", node="node0", command="stub")
            base = Baseline("node0", "node1", "0", target.release, {n: 0 for n in NODES})
            run.emit(
                EventKind.ICU_SENDING,
                node="node0",
                command="stub",
                baseline=base.to_json(),
                model="stub",
            )
            run.emit(EventKind.ICU_STARTED, node="node0", reply="stub")
            time.sleep(seconds)
            run.emit(EventKind.ICU_ENDED, how="primary back")
        return Outcome("ok", "healthy", {n: target.release for n in NODES}, "stub plan")

    return plan


def worker(seconds: float, argv: list[str]) -> int:
    import tasks.jobs
    from runbooks.engines.celery_worker import main

    tasks.jobs.upgrade_plan = stub_plan(seconds)  # type: ignore[assignment]
    return main(argv)


def coordinator(enq_file: Path, argv: list[str]) -> int:
    from runbooks.cli.main import main
    from runbooks.engines import celery_coordinator

    times: dict[str, float] = {}
    original = celery_coordinator.Coordinator._enqueue

    def timed(self: Any, names: list[str], attempt: int = 0) -> None:
        for name in names:
            original(self, [name], attempt)
            times[name] = time.time()

    celery_coordinator.Coordinator._enqueue = timed  # type: ignore[method-assign]
    atexit.register(lambda: enq_file.write_text(json.dumps(times)))
    return main(argv)


if __name__ == "__main__":
    signals.catch_early()
    first, rest = sys.argv[1], sys.argv[2:]
    if rest[:1] == ["worker"]:
        sys.exit(worker(float(first), rest))
    sys.exit(coordinator(Path(first), rest))
