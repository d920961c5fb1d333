"""The plans' decisions, without a device: the ICU command, what an abort's landing means,
where a recovery resumes, which clusters get no recovery step, what a cluster without an ICU
reports, and the executor's rules (lock, journal, gate, outcome, Nornir Result)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nornir.core import Nornir
from nornir.core.inventory import ConnectionOptions, Defaults, Groups, Host, Hosts, Inventory
from nornir.plugins.runners import SerialRunner

from tasks.device.commands import ICU_TOGGLES, IcuCommand
from tasks.events import DURABLE, Event, EventKind
from tasks.executor import execute
from tasks.plans.abort import landing
from tasks.plans.icu import Baseline
from tasks.plans.prechecks import Check, PrecheckResult
from tasks.plans.recover import progress, screen
from tasks.plans.upgrade import _left_failed, before_icu, ended_elsewhere
from tasks.state.gate import NotStarted, SharedGate
from tasks.state.journal import LocalJournal
from tasks.state.locks import FlockLocks
from tasks.state.run_context import ClusterRun, Outcome, RunContext
from tasks.state.settings import Target
from tasks.vocabulary import ICU_OPTION_WORDS, IcuOptions
from tests.factories import NEW, OLD, cluster, node, status

PKG = f"/var/tmp/junos-srxsme-{NEW}.tgz"


# ---------------------------------------------------------------------------- ICU command


def test_icu_command_adds_what_the_model_needs() -> None:
    branch = IcuCommand.for_model(PKG, "SRX345", IcuOptions(no_validate=True))
    assert branch.cli == f"request system software in-service-upgrade {PKG} no-sync no-validate"
    assert branch.rpc_args() == {"package_name": PKG, "no_sync": True, "no_validate": True}
    high = IcuCommand.for_model(PKG, "SRX5800")
    assert high.cli.endswith(f"{PKG} reboot") and high.rpc_args()["reboot"] is True
    # every option the CLI offers is one field of the typed value, and a word of the command
    every = IcuOptions(no_sync=True, no_tcp_syn_check=True, no_validate=True, unlink=True)
    assert every.words == set(ICU_OPTION_WORDS) and set(ICU_OPTION_WORDS) < set(ICU_TOGGLES)


# ---------------------------------------------------------------------------- abort landing

BASE = Baseline("node0", "node1", OLD, NEW, {"node0": 1000, "node1": 1000})


@pytest.mark.parametrize(
    ("view", "base", "expected"),
    [
        (cluster(), BASE, "clean"),
        (cluster(n1=node("node1", reachable=False)), BASE, None),  # still rebooting
        (cluster(node("node0", pending="p"), node("node1", pending="p")), None, None),  # running
        (cluster(n1=node("node1", NEW, booted=2000)), BASE, "inconsistent"),
        (cluster(n1=node("node1", pending="p")), BASE, None),  # rollback not done yet
        (cluster(n1=node("node1", pending="p")), None, "pending"),
        # the upgraded secondary back and the primary gone: its reboot began
        (
            cluster(node("node0", reachable=False), node("node1", NEW, booted=2000)),
            BASE,
            "too-late",
        ),
        (
            cluster(node("node0", NEW, booted=3000), node("node1", NEW, booted=2000)),
            BASE,
            "too-late",
        ),
    ],
)
def test_abort_landing(view: Any, base: Baseline | None, expected: str | None) -> None:
    assert landing(view, base, NEW) == expected


# ---------------------------------------------------------------------------- recovery


def rec(event: str, **data: Any) -> dict[str, Any]:
    return {"event": event, "run_id": "r1", **data}


def test_recovery_progress_from_the_journal() -> None:
    assert not progress([]).resuming
    history = [
        rec("recover-sending", step="abort", node="node1"),
        rec("recover-verified", step="abort", node="node1"),
        rec("recover-sending", step="rollback", node="node1"),
    ]
    p = progress(history)
    assert p.resuming and p.rolled_back and p.reboot is None
    p = progress([*history, rec("recover-sending", step="reboot", node="node1", boot_before=5)])
    assert p.reboot is not None and p.reboot["boot_before"] == 5
    # a verified recovery, or a new ICU, ends it
    assert not progress([*history, rec("recover-done", node="node1")]).resuming
    assert not progress([*history, rec("icu-sending", baseline={})]).resuming


def test_recovery_progress_reads_journals_written_before_recover_verified() -> None:
    legacy = [
        rec("recover-step", step="abort", node="node1"),
        rec("recover-sending", step="rollback", node="node1"),
        rec("recover-step", step="rollback", node="node1"),
        rec("recover-step", step="reboot", node="node1", boot_before=7),  # written before it
    ]
    p = progress(legacy)
    assert p.rolled_back and p.reboot is not None and p.reboot["boot_before"] == 7


def test_screen_which_clusters_get_no_recovery_step() -> None:
    inconsistent = cluster(n1=node("node1", NEW))
    assert screen(inconsistent, progress([]), None) is None
    refused = screen(inconsistent, progress([]), "r0")
    assert refused is not None and refused[0] == "refused" and "run r0" in refused[1]
    assert screen(cluster(), progress([]), None) == ("skipped", "healthy; nothing to recover")
    # a recovery an earlier run began and that ended healthy is done, not refused
    begun = progress([rec("recover-sending", step="abort", node="node1")])
    outcome = screen(cluster(), begun, None)
    assert outcome is not None and outcome[0] == "skipped"
    st = status(failures=("IF",))
    degraded = screen(cluster(node("node0", st=st), node("node1", st=st)), progress([]), None)
    assert degraded is not None and degraded[0] == "refused" and "degraded" in degraded[1]


# ---------------------------------------------------------------------------- upgrade


def pre(*checks: Check, on_target: bool = False) -> PrecheckResult:
    return PrecheckResult(checks, on_target, "node0", "SRX345")


def test_before_icu_outcomes() -> None:
    target = Target(NEW, PKG)
    would = before_icu(cluster(), pre(Check("free-space", True, "ok")), target, IcuOptions())
    assert would.outcome == "would-upgrade" and would.good
    assert would.extra["plan"] == {
        "node": "node0",
        "command": IcuCommand.for_model(PKG, "SRX345").cli,
    }
    failed = before_icu(
        cluster(), pre(Check("free-space", False, "need 2 bytes")), target, IcuOptions()
    )
    assert (
        failed.outcome == "failed" and "pre-check free-space failed: need 2 bytes" in failed.detail
    )
    on = cluster(node("node0", NEW), node("node1", NEW))
    done = before_icu(
        on, pre(Check("already-on-target", True, "x"), on_target=True), target, IcuOptions()
    )
    assert done.outcome == "skipped"
    sick = cluster(node("node0", NEW), node("node1", NEW, reachable=False))
    not_done = before_icu(sick, pre(on_target=True), target, IcuOptions())
    assert not_done.outcome == "failed" and "already on" in not_done.detail


def test_a_cluster_left_failed_is_left_alone_unless_retried(tmp_path: Path) -> None:
    run = cluster_run(tmp_path)
    run.history = [rec("cluster-finished", job="upgrade", outcome="failed", detail="boom")]
    assert "left as failed by run r1: boom" in str(_left_failed(run))
    run.options["retry_failed"] = True
    assert _left_failed(run) is None


def test_an_icu_this_run_sent_and_another_run_ended_is_never_sent_again(tmp_path: Path) -> None:
    # GIVEN this run's ICU, ended by another run's abort (this run's worker was lost)
    run = cluster_run(tmp_path)
    mine = rec("icu-sending", run_id=run.run_id)
    ended = rec("icu-ended", run_id="r-abort", job="abort", how="abort landed: clean")
    run.history = [mine, ended]
    # THEN this run, started again, does not send it again
    assert ended_elsewhere(run) == ended
    # but an abort that came too late (the upgrade completed) lets the plan verify it
    run.history = [mine, {**ended, "how": "abort landed: too-late"}]
    assert ended_elsewhere(run) is None
    # an ICU of another run, or one this run saw end itself, is no such case
    run.history = [rec("icu-sending", run_id="r-other"), ended]
    assert ended_elsewhere(run) is None
    run.history = [mine, rec("icu-ended", run_id=run.run_id, how="primary back")]
    assert ended_elsewhere(run) is None


# ---------------------------------------------------------------------------- events


def test_durable_events_are_the_ones_before_and_closing_a_destructive_command() -> None:
    assert {str(k) for k in DURABLE} == {
        "command",
        "icu-sending",
        "icu-ended",
        "recover-sending",
        "recover-verified",
        "recover-refused",  # a recovery command the device refused: it took no effect
        "dual-reboot-verified",  # a dual reboot's install seen pending (or refused)
        "dual-reboot-ended",  # a dual reboot closed: verified or cancelled
    }
    assert EventKind.ICU_SENDING.durable and not EventKind.PHASE.durable


# ---------------------------------------------------------------------------- executor


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.outcomes: dict[str, Outcome] = {}

    def event(self, event: Event, *, quiet: bool = False) -> None:
        self.events.append(event)

    def finished(self, cluster: str, outcome: Outcome, event: Event, *, published: bool) -> None:
        self.outcomes[cluster] = outcome


def context(tmp_path: Path, gate: SharedGate | None = None) -> RunContext:
    return RunContext(
        run_id="r1",
        state_dir=tmp_path,
        journal=LocalJournal(tmp_path),
        locks=FlockLocks(tmp_path, "r1"),
        gate=gate or SharedGate(),
        sink=Sink(),
    )


def cluster_run(tmp_path: Path) -> ClusterRun:
    from dataclasses import fields

    from tasks.state.settings import Timing

    timing = Timing(*([1.0] * len(fields(Timing))))
    return ClusterRun("c1", "upgrade", context(tmp_path), timing, dry_run=False)


def nornir_of(name: str = "c1") -> Nornir:
    opts = {n: ConnectionOptions(hostname="127.0.0.1", port=9) for n in ("node0", "node1")}
    host = Host(name, username="u", password="p", connection_options=opts, defaults=Defaults())
    host.data.update(host_key_check=False)
    return Nornir(
        inventory=Inventory(hosts=Hosts({name: host}), groups=Groups(), defaults=Defaults()),
        runner=SerialRunner(),
    )


def run_plan(ctx: RunContext, plan: Any, nr: Nornir | None = None) -> Any:
    result = (nr or nornir_of()).run(task=lambda task: execute(task, "upgrade", plan, ctx, {}))
    return next(iter(result.values()))[0]


def test_executor_journals_and_reports_the_outcome(tmp_path: Path) -> None:
    ctx = context(tmp_path)

    def plan(task: Any, run: ClusterRun) -> Outcome:
        run.emit(EventKind.COMMAND, node="node0", command="request something")
        return Outcome("ok", "healthy", {}, "done")

    result = run_plan(ctx, plan)
    assert result.result.outcome == "ok" and result.changed and not result.failed
    events = [r["event"] for r in ctx.journal.history("c1")]
    assert events == ["cluster-started", "command", "cluster-finished"]
    assert ctx.sink.outcomes["c1"].outcome == "ok"  # type: ignore[attr-defined]
    assert ctx.locks.acquire("c1") is None  # released after the plan


def test_executor_locked_halted_and_failed(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    other = FlockLocks(tmp_path, "r0")
    assert other.acquire("c1") is None
    locked = run_plan(ctx, lambda task, run: Outcome("ok", "healthy", {}, ""))
    assert locked.result.outcome == "locked" and "run r0" in locked.result.detail
    assert ctx.journal.history("c1") == []  # not this run's to journal
    other.release("c1")
    gate = SharedGate()
    gate.halt("canary failed: c0")
    halted = run_plan(context(tmp_path, gate), lambda task, run: Outcome("ok", "", {}, ""))
    assert halted.result.outcome == "not-started" and halted.failed

    def boom(task: Any, run: ClusterRun) -> Outcome:
        raise NotStarted("window closed")

    assert run_plan(context(tmp_path), boom).result.outcome == "not-started"


def test_executor_refuses_an_unsafe_cluster_name(tmp_path: Path) -> None:
    result = run_plan(context(tmp_path), lambda t, r: Outcome("ok", "", {}, ""), nornir_of("../x"))
    assert result.failed and "not safe" in result.result.detail
