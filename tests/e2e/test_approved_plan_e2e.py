"""An approved plan (`upgrade --dry-run --save-plan FILE`, then `upgrade --plan FILE`): what
was reviewed is what runs, and a cluster that changed since is not started."""

from __future__ import annotations

import json
import stat
from typing import Any

from tests.e2e.conftest import destructive

ICU = "request-package-in-service-upgrade"


def test_an_approved_plan_runs_as_reviewed_and_skips_a_cluster_that_changed(
    make_lab: Any, runbooks_for: Any
) -> None:
    # GIVEN a dry run of three clusters saved as a plan
    lab = make_lab(count=3, speed=600)
    ops = runbooks_for(lab)
    plan = ops.workdir / "tonight.plan.json"
    ops.workdir.mkdir(parents=True, exist_ok=True)
    dry = ops.run("upgrade", "--dry-run", "--save-plan", str(plan))
    assert dry.code == 0, dry.stderr
    assert "plan saved: " in dry.stderr and f"--plan {plan}" in dry.stderr
    assert stat.S_IMODE(plan.stat().st_mode) == 0o600
    saved = json.loads(plan.read_text())
    names = sorted(saved["clusters"])
    assert len(names) == 3 and saved["not_planned"] == {}
    assert destructive(lab.audit()) == []
    # WHEN one cluster is upgraded by someone else before the plan is carried out
    changed = names[0]
    other = ops.run("upgrade", "--cluster", changed, "--yes")
    assert other.code == 0, other.stdout
    # AND the plan runs
    result = ops.run("upgrade", "--plan", str(plan), "--yes")
    # THEN the changed cluster is not started, naming what changed, with nothing sent
    detail = result.cluster(changed)["detail"]
    assert result.cluster(changed)["outcome"] == "not-started", detail
    assert "state changed since the plan was approved" in detail and "node0 " in detail
    assert "nothing sent" in detail
    icus = [r["cluster"] for r in destructive(lab.audit()) if r["rpc"] == ICU]
    assert sorted(icus) == names  # one ICU each: the other run's, and the plan's two
    # AND the others ran the reviewed command, and name the plan they ran
    for name in names[1:]:
        c = result.cluster(name)
        assert c["outcome"] == "ok", c
        assert c["plan"]["command"] == saved["clusters"][name]["command"]
        assert c["approved_plan"].startswith(str(plan))
    assert result.code == 1  # a cluster not started needs a look


def test_a_plan_fixes_its_own_target_and_selection(make_lab: Any, runbooks_for: Any) -> None:
    lab = make_lab(count=1, speed=600)
    ops = runbooks_for(lab)
    ops.workdir.mkdir(parents=True, exist_ok=True)
    plan = ops.workdir / "p.json"
    assert ops.run("upgrade", "--dry-run", "--save-plan", str(plan)).code == 0
    for extra, words in (
        (("--no-validate",), "--plan fixes the target and options: drop --no-validate"),
        (("--filter", "site=x"), "--plan selects its own clusters"),
    ):
        bad = ops.run("upgrade", "--plan", str(plan), *extra)
        assert bad.code == 2 and words in bad.stderr, bad.stderr
    without = ops.run("upgrade", "--save-plan", str(plan))
    assert without.code == 2 and "--save-plan needs --dry-run" in without.stderr
    assert destructive(lab.audit()) == []
