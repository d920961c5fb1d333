"""The Nornir API a user meets in their own script (docs/operators/nornir-api.md), against the
lab:
a per-call `dry_run=` that reaches the plan, a status that reports rather than fails (so a
recover on the same Nornir object still runs), and print_result of an upgrade that a person
can read: short one-line subtask results, each pre-check a subtask of its own, `changed`
only where a destructive command left."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest
from nornir.core import Nornir
from nornir.core.task import AggregatedResult, MultiResult, Result
from nornir_utils.plugins.functions import print_result

from simulator.testing import LabProcess, private_config
from tasks import init_nornir, srx_recover, srx_status, srx_upgrade
from tasks.plans.cluster_status import ClusterSummary
from tasks.plans.prechecks import PRECHECKS
from tasks.state.run_context import Outcome
from tests.e2e.conftest import destructive, icu_sends

TARGET = "24.2R2-S1.3"
MAX_LINES = 140  # print_result of a two-cluster upgrade (865 lines before issue 19)


def nornir_for(lab: LabProcess, workdir: Path, **kwargs: Any) -> Nornir:
    """The user's script: the project's config (its own state_dir) and the lab's inventory."""
    inv = lab.inventory_dir
    files = {f"{k}_file": str(inv / f"{k}s.yaml") for k in ("host", "group")}
    files["defaults_file"] = str(inv / "defaults.yaml")
    inventory = {"plugin": "SimpleInventory", "options": files}
    return init_nornir(private_config(workdir), inventory=inventory, **kwargs)


def printed(result: AggregatedResult) -> str:
    """What print_result shows, colours stripped."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_result(result)
    return re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())


def subtasks(multi: MultiResult) -> dict[str, Any]:
    """name -> Result (or the MultiResult of a step with subtasks of its own)."""
    return {str(r[0].name if isinstance(r, MultiResult) else r.name): r for r in list(multi)[1:]}


def journals(workdir: Path) -> list[Path]:
    return sorted((workdir / "state").glob("journal/*.jsonl"))


def test_dry_run_per_call_and_a_readable_upgrade(make_lab: Any, tmp_path: Path) -> None:
    # GIVEN two healthy clusters and a user's script whose Nornir is not a dry run
    lab: LabProcess = make_lab([{"name": "c1"}, {"name": "c2"}])
    nr = nornir_for(lab, tmp_path / "ops")
    # WHEN it asks this one call for a dry run (the Nornir idiom, as napalm_configure's)
    dry = nr.run(task=srx_upgrade, dry_run=True)
    # THEN both would upgrade, nothing destructive left, nothing was journaled or changed
    for name in ("c1", "c2"):
        outcome = dry[name][0].result
        assert isinstance(outcome, Outcome) and outcome.outcome == "would-upgrade", outcome
        assert not dry[name].failed and not dry[name].changed
    assert destructive(lab.audit()) == [] and journals(tmp_path / "ops") == []
    assert "outcome='would-upgrade'" in printed(dry)
    # AND dry_run=False on a Nornir object made a dry run goes ahead: the per-call value wins
    real_nr = nornir_for(lab, tmp_path / "ops", dry_run=True)
    real = real_nr.run(task=srx_upgrade, dry_run=False)
    assert icu_sends(lab.audit()) == {"c1": 1, "c2": 1}
    for name in ("c1", "c2"):
        outcome = real[name][0].result
        assert outcome.outcome == "ok" and not real[name].failed, outcome
        assert real[name][0].changed  # the ICU left
    # AND print_result of the two-cluster upgrade is short, with one-line subtask results
    text = printed(real)
    assert len(text.splitlines()) < MAX_LINES, text
    assert "ClusterView(" not in text and "PrecheckResult(" not in text
    for name in ("c1", "c2"):
        steps = subtasks(real[name])
        # each pre-check is a subtask of its own: "pass: evidence"
        checks = subtasks(steps["pre-checks"])
        assert list(checks) == [n for n, _ in PRECHECKS if n in checks]
        assert {"reachable", "cluster-healthy", "package-present", "free-space"} <= set(checks)
        for check in checks.values():
            assert check.result.startswith("pass: ") and not check.failed, check.result
            assert "\n" not in check.result
        # changed only where a destructive command left: the ICU start, no wait, no verify
        changed = {n for n, r in steps.items() if r.changed}
        assert changed == {"start-icu"}, changed
        for title in ("connect", "start-icu", "icu secondary-rebooting", "verify"):
            assert isinstance(steps[title], Result) and "\n" not in str(steps[title].result)
    assert "---- reachable ** changed : False" in text
    assert "pass: both nodes answer" in text


def test_a_failed_pre_check_is_its_own_failed_subtask(make_lab: Any, tmp_path: Path) -> None:
    # GIVEN a cluster whose package is not on the node
    lab: LabProcess = make_lab([{"name": "c1", "faults": ["package-missing"]}])
    nr = nornir_for(lab, tmp_path / "ops")
    # WHEN the user's script upgrades it
    result = nr.run(task=srx_upgrade)
    # THEN the plan stops at that check as it always did: failed, nothing destructive sent
    outcome = result["c1"][0].result
    assert outcome.outcome == "failed" and "pre-check package-present failed" in outcome.detail
    assert destructive(lab.audit()) == [] and not result["c1"].changed
    # AND that check is a failed subtask of its own, the ones before it passed
    checks = subtasks(subtasks(result["c1"])["pre-checks"])
    *passed, last = checks.values()
    assert last.name == "package-present" and last.failed
    assert last.result.startswith("FAIL: ")
    assert passed and all(not c.failed and c.result.startswith("pass: ") for c in passed)
    assert "FAIL: /var/tmp/junos-srxsme-" in printed(result)


def test_status_then_recover_on_one_nornir_object(make_lab: Any, tmp_path: Path) -> None:
    # GIVEN a cluster a failed window left inconsistent, and one Nornir object
    lab: LabProcess = make_lab([{"name": "c1", "state": "inconsistent"}])
    nr = nornir_for(lab, tmp_path / "ops")
    # WHEN the script looks first
    status = nr.run(task=srx_status)
    # THEN status reports the state without failing the host (a report, not a verdict)
    summary = status["c1"][0].result
    assert isinstance(summary, ClusterSummary) and summary.state == "inconsistent", summary
    assert not status["c1"].failed and not status["c1"].changed
    assert nr.data.failed_hosts == set()
    assert destructive(lab.audit()) == []
    # AND picks the clusters to recover from the summaries, and recovers them with the same
    # Nornir object (no on_failed=True needed: Nornir would skip a failed host silently)
    broken = [n for n, m in status.items() if not m[0].result.healthy]
    recovered = nr.filter(filter_func=lambda h: h.name in broken).run(task=srx_recover)
    # THEN the inconsistent cluster was recovered, and said so
    assert "c1" in recovered, recovered
    outcome = recovered["c1"][0].result
    assert isinstance(outcome, Outcome) and outcome.outcome == "ok", outcome
    assert recovered["c1"][0].changed and not recovered["c1"].failed
    nodes = lab.state()["clusters"]["c1"]["nodes"]
    assert len({n["release"] for n in nodes.values()}) == 1, nodes
    # AND a second look says healthy
    again = nr.run(task=srx_status)["c1"][0].result
    assert again.healthy, again


def test_a_wrong_password_is_auth_failed_not_unreachable(
    make_lab: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a healthy lab cluster, and an operator whose password is not the lab's (no lab
    # fault: the lab accepts only the credentials it was configured with)
    lab: LabProcess = make_lab([{"name": "c1"}])
    monkeypatch.setenv("JUNOS_USERNAME", "lab")
    monkeypatch.setenv("JUNOS_PASSWORD", "not-the-lab-password")
    # WHEN status reads it
    result = nornir_for(lab, tmp_path / "ops").run(task=srx_status)["c1"]
    # THEN the state says authentication, never a network problem, and each node is named
    summary = result[0].result
    assert isinstance(summary, ClusterSummary) and not result.failed  # a report, not a verdict
    assert summary.state == "auth-failed", summary
    assert [f.split(" (")[0] for f in summary.findings] == [
        "authentication failed for lab on node0",
        "authentication failed for lab on node1",
    ]
    assert not any("unreachable" in f for f in summary.findings)
    # AND with the lab's own credentials (from its inventory) the same cluster is healthy
    monkeypatch.delenv("JUNOS_USERNAME")
    monkeypatch.delenv("JUNOS_PASSWORD")
    again = nornir_for(lab, tmp_path / "ops").run(task=srx_status)["c1"][0].result
    assert again.state == "healthy", again
    assert destructive(lab.audit()) == []
