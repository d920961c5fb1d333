"""Events: what a cluster's plan and the fleet runner say happened, in one vocabulary.

The journal, the live progress view, `--events` and the log all consume them. The kinds that
precede or close a destructive command are durable: the journal has them on disk (fsynced)
before the command leaves, and resume decisions are read from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    RUN_STARTED = "run-started"
    RUN_FINISHED = "run-finished"
    CLUSTER_STARTED = "cluster-started"
    CLUSTER_FINISHED = "cluster-finished"
    STEP = "step"  # a plan step began (connect, pre-checks, start-icu, verify, ...)
    CHECK = "check"  # one pre-check with pass/fail and evidence
    PHASE = "phase"  # the ICU phase the runbook has evidence for
    NOTE = "note"  # worth a line in the journal, changes nothing
    COMMAND = "command"  # a destructive command is about to leave (its CLI words)
    ICU_SENDING = "icu-sending"  # the ICU is about to leave, with the baseline to resume from
    ICU_STARTED = "icu-started"  # the ICU RPC was not refused at once
    ICU_ENDED = "icu-ended"  # a run saw that ICU end (verified, refused, stopped, aborted)
    ABORT_SENT = "abort-sent"  # the abort's reply (or its loss)
    RECOVER_SENDING = "recover-sending"  # a recovery command (abort, rollback, reboot) is leaving
    RECOVER_VERIFIED = "recover-verified"  # that recovery step was verified on the device
    RECOVER_REFUSED = "recover-refused"  # the device refused that recovery step: no effect
    RECOVER_DONE = "recover-done"  # the recovered cluster was verified healthy
    TRANSFER = "transfer"  # a package copy: started, progress (not journaled), done, failed
    PAUSED_FOR_APPROVAL = "paused-for-approval"  # the run waits for approve/reject RUN_ID
    APPROVAL = "approval"  # the answer (or its absence within --approval-timeout)
    WAVE_ENDED = "wave-ended"  # a wave of the fleet ended (--canary, --waves): its counts
    WINDOW_ENDED = "window-ended"  # a cluster's window closed while it was still in flight
    HOP = "hop"  # an upgrade hop begins: its number, method and release (upgrade --allow-outage)
    DUAL_VERIFIED = "dual-reboot-verified"  # a dual reboot's install seen pending (or refused)
    DUAL_ENDED = "dual-reboot-ended"  # a dual reboot ended: verified, refused, cancelled

    @property
    def durable(self) -> bool:
        return self in DURABLE


DURABLE = frozenset(
    {
        EventKind.COMMAND,
        EventKind.ICU_SENDING,
        EventKind.ICU_ENDED,
        EventKind.RECOVER_SENDING,
        EventKind.RECOVER_VERIFIED,
        EventKind.RECOVER_REFUSED,
        EventKind.DUAL_VERIFIED,
        EventKind.DUAL_ENDED,
    }
)


@dataclass(frozen=True)
class Event:
    ts: float
    run_id: str
    job: str
    cluster: str  # "" for run-wide events
    kind: EventKind
    data: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "ts": round(self.ts, 3),
            "run_id": self.run_id,
            "job": self.job,
            "cluster": self.cluster,
            "event": str(self.kind),
            **self.data,
        }
