"""The simulator observed with raw PyEZ by code independent of the runbooks: every check
of the walkthrough (harness.py) is a test of its own, named after the check.

A failing test shows the check's detail and the log of the part (scenario) it belongs to; a
check the part never reached says where the part stopped."""

from __future__ import annotations

import pytest

from .harness import CHECK_NAMES, PART_OF, Part

pytestmark = pytest.mark.fidelity


def verdict(observed: dict[str, Part], name: str, request: pytest.FixtureRequest) -> None:
    part = observed[PART_OF[name]]
    records = part.records(name)
    if records and all(c.ok for c in records):
        return
    request.node.add_report_section("call", f"walkthrough {part.key} log", part.log.text())
    if not records:
        pytest.fail(part.why_missing(name), pytrace=False)
    pytest.fail(
        "\n".join(f"{c.name} -- {c.detail or '(no detail)'}" for c in records if not c.ok),
        pytrace=False,
    )


@pytest.mark.parametrize("check", CHECK_NAMES["hostkey"])
def test_hostkey(walkthrough: dict[str, Part], check: str, request: pytest.FixtureRequest) -> None:
    """Host-key verification is really on."""
    verdict(walkthrough, check, request)


@pytest.mark.parametrize("check", CHECK_NAMES["A"])
def test_scenario_a_full_icu(
    walkthrough: dict[str, Part], check: str, request: pytest.FixtureRequest
) -> None:
    """A: a full ICU on a healthy cluster, observed phase by phase."""
    verdict(walkthrough, check, request)


@pytest.mark.parametrize("check", CHECK_NAMES["B"])
def test_scenario_b_icu_abort(
    walkthrough: dict[str, Part], check: str, request: pytest.FixtureRequest
) -> None:
    """B: an ICU aborted while the secondary's install is pending."""
    verdict(walkthrough, check, request)


@pytest.mark.parametrize("check", CHECK_NAMES["C"])
def test_scenario_c_recovery(
    walkthrough: dict[str, Part], check: str, request: pytest.FixtureRequest
) -> None:
    """C: an inconsistent cluster recovered by abort, rollback and reboot of the secondary."""
    verdict(walkthrough, check, request)


@pytest.mark.parametrize("check", CHECK_NAMES["audit"])
def test_audit_log(
    walkthrough: dict[str, Part], check: str, request: pytest.FixtureRequest
) -> None:
    """The lab's audit log holds exactly the state-changing RPCs sent, with their outcomes."""
    verdict(walkthrough, check, request)


def test_every_recorded_check_is_a_test(walkthrough: dict[str, Part]) -> None:
    """A check the walkthrough records must be in CHECK_NAMES, or no test would report it."""
    unlisted = [
        f"{part.key}: {c.name} ({'ok' if c.ok else 'FAILED'}: {c.detail})"
        for part in walkthrough.values()
        for c in part.checks.items
        if PART_OF.get(c.name) != part.key
    ]
    assert not unlisted, "checks recorded but not in CHECK_NAMES:\n" + "\n".join(unlisted)
