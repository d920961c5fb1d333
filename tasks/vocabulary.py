"""The runbooks' words, written once: the jobs, the outcomes a cluster ends a run with, and
the ICU options an operator may ask for. The CLI, the input rules, the engines, the run
context and the public exports of `tasks` are derived from here (tests/unit/tasks/test_vocabulary.py
checks the docs' tables against it).

It imports nothing but the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NODES = ("node0", "node1")  # the two nodes of a chassis cluster, as Junos names them
# How node sessions travel (--transport, config user_defined.transport; tasks.transports):
# napalm/PyEZ (ncclient, paramiko) or asyncssh (tasks.device.asyncssh_node). The default first.
TRANSPORTS = ("napalm", "asyncssh")


class ClusterState(StrEnum):
    HEALTHY = "healthy"
    INCONSISTENT = "inconsistent"  # nodes on different releases, no ICU running
    ICU_IN_PROGRESS = "icu-in-progress"
    PENDING_INSTALL = "pending-install"  # same release, an install waits for a reboot
    DEGRADED = "degraded"  # reachable and consistent, but RGs or a node unhealthy
    UNREACHABLE = "unreachable"  # no node answers
    AUTH_FAILED = "auth-failed"  # no node answers, and a node refused our credentials
    NOT_CLUSTERED = "not-clustered"


class OutcomeWord(StrEnum):
    """How one cluster ended a run (the report's `outcome`)."""

    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"
    SERVICES_LOST = "services-lost"
    NOT_STARTED = "not-started"
    WOULD_UPGRADE = "would-upgrade"
    WOULD_ABORT = "would-abort"
    WOULD_RECOVER = "would-recover"
    WOULD_STAGE = "would-stage"
    REFUSED = "refused"
    INCONSISTENT = "inconsistent"
    TOO_LATE = "too-late"
    ABORTED = "aborted"
    LOCKED = "locked"


@dataclass(frozen=True)
class Job:
    """One job: its CLI name, its Nornir task, its CLI module (arguments and preparation),
    whether it acts on devices, the engines it runs on, and its dry-run word."""

    name: str
    task: str  # the srx_* Nornir task in tasks.jobs
    cli: str  # the runbooks module with add_arguments / prepare / SUMMARY
    acting: bool  # changes devices: --dry-run, --processes, --events apply
    engines: tuple[str, ...] = ("local",)
    would: OutcomeWord | None = None  # the outcome of a dry run that would act


JOBS: dict[str, Job] = {
    j.name: j
    for j in (
        Job("status", "srx_status", "runbooks.jobs.status", False, ("local", "celery")),
        Job(
            "upgrade",
            "srx_upgrade",
            "runbooks.jobs.upgrade",
            True,
            ("local", "celery"),
            OutcomeWord.WOULD_UPGRADE,
        ),
        Job(
            "abort",
            "srx_abort",
            "runbooks.jobs.abort",
            True,
            ("local", "celery"),
            OutcomeWord.WOULD_ABORT,
        ),
        Job(
            "recover",
            "srx_recover",
            "runbooks.jobs.recover",
            True,
            ("local", "celery"),
            OutcomeWord.WOULD_RECOVER,
        ),
        Job("stage", "srx_stage", "runbooks.jobs.stage", True, ("local",), OutcomeWord.WOULD_STAGE),
        Job("snapshot", "srx_snapshot", "runbooks.jobs.snapshot", False),
        Job("plan", "srx_plan", "runbooks.jobs.plan", False),
    )
}
JOB_NAMES = tuple(JOBS)
ACTING = tuple(name for name, job in JOBS.items() if job.acting)
ENGINE_JOBS = tuple(name for name, job in JOBS.items() if "celery" in job.engines)

# Outcomes that reach the job's goal (exit code 0): done, nothing to do, or a dry run that
# would act.
GOOD_OUTCOMES = frozenset(
    {OutcomeWord.OK, OutcomeWord.SKIPPED} | {j.would for j in JOBS.values() if j.would}
)
OUTCOMES = tuple(str(o) for o in OutcomeWord)


@dataclass(frozen=True)
class IcuOptions:
    """The ICU options an operator asks for (`--no-sync` ... on the CLI, keyword arguments of
    srx_upgrade), one typed value from the command line to tasks.device.commands.IcuCommand."""

    no_sync: bool = False
    no_tcp_syn_check: bool = False
    no_validate: bool = False
    unlink: bool = False

    @property
    def words(self) -> frozenset[str]:
        """The command's own words for the options asked for (no-sync, ...)."""
        return frozenset(w for w, on in zip(ICU_OPTION_WORDS, self._flags(), strict=True) if on)

    def _flags(self) -> tuple[bool, ...]:
        return (self.no_sync, self.no_tcp_syn_check, self.no_validate, self.unlink)


ICU_OPTION_WORDS = ("no-sync", "no-tcp-syn-check", "no-validate", "unlink")
