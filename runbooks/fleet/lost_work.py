"""What becomes of a cluster whose worker was lost, written once for every engine: a forked
worker process of this host that died (runbooks.fleet.shards), a Celery worker whose
heartbeat went stale and whose lease lapsed (runbooks.engines.celery_coordinator).

Such a cluster is worked again, from its journal (the next worker re-attaches: nothing
already sent goes twice), until it has been tried `attempts` times in all; then it ends the
run in a named state: `failed` when it was in flight (re-run with --resume to re-attach),
`not-started` when it never started. The local engine tries once (a process of this host
that died is this host's trouble: the run ends the cluster and the operator resumes); the
Celery engine three times (another worker of the region takes the job).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.state.run_context import Outcome

RESUME = "re-run with --resume to re-attach"


@dataclass
class LostWork:
    attempts: int  # how many times in all a cluster may be worked (1: never again)
    tried: dict[str, int] = field(default_factory=dict)  # cluster -> its latest attempt (0..)

    def started(self, cluster: str, attempt: int = 0) -> None:
        self.tried[cluster] = attempt

    def again(self, cluster: str) -> int | None:
        """The next attempt's number for `cluster`, or None when it has had them all."""
        attempt = self.tried.get(cluster, 0) + 1
        if attempt >= self.attempts:
            return None
        self.tried[cluster] = attempt
        return attempt

    def ended(self, cluster: str, why: str, *, in_flight: bool) -> Outcome:
        """The outcome of a lost cluster that is not worked again."""
        if not in_flight:
            return Outcome("not-started", "unknown", {}, why)
        tries = self.tried.get(cluster, 0) + 1
        said = f"; {tries} attempts" if tries > 1 else ""
        return Outcome("failed", "unknown", {}, f"{why}{said} while in flight; {RESUME}")
