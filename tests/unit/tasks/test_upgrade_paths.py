"""The path table (tasks/upgrade_paths.py, docs/design/upgrade-paths.md), row by row: each
family's method, each rule refusing the hop it names and letting the nearest allowed hop
through, the rollback limit, and what the table does not know."""

from __future__ import annotations

import pytest

from tasks.upgrade_paths import (
    FAMILIES,
    METHODS,
    MINIMAL_DOWNTIME_REFUSAL,
    RULES,
    SOURCES,
    judge,
    method_refusal,
    plan_hops,
    rollback_refusal,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("model", "running", "target", "method"),
    [
        ("SRX345", "23.4R2-S3.9", "24.2R2-S1.3", "icu"),  # SRX300-family: ICU
        ("SRX380-POE-AC", "24.4R1.9", "25.2R1.9", "icu"),  # past the boundary: any later
        ("SRX240H2", "12.1X46-D65.4", "12.3X48-D105.4", "icu"),  # older branch
        ("SRX1500", "21.4R3-S5.4", "22.4R3.25", "issu"),
        ("SRX4200", "21.4R3-S5.4", "22.4R3.25", "issu"),
        ("SRX1600", "23.4R1.10", "24.2R2-S1.3", "issu"),  # ISSU from 23.4R1
        ("SRX2300", "23.4R2-S3.9", "24.2R2-S1.3", "issu"),
        ("SRX4300", "24.2R1.17", "24.4R1.9", "issu"),  # ISSU from 24.2R1
        ("SRX5800", "22.4R3.25", "23.4R2-S3.9", "issu"),
        ("SRX3600", "12.1X46-D65.4", "12.3X48-D105.4", "issu"),  # older high-end (inferred)
    ],
)
def test_each_family_row_gives_its_method(
    model: str, running: str, target: str, method: str
) -> None:
    verdict = judge(model, running, target)
    assert verdict.allowed and verdict.method == method, verdict


@pytest.mark.parametrize(
    ("model", "running", "target", "rule"),
    [
        ("SRX345", "23.4R2-S3.9", "24.4R1.9", "icu-to-24.4R1"),
        ("SRX300", "24.2R2-S1.3", "24.4R1-S1.2", "icu-to-24.4R1"),
        ("SRX345", "23.4R2-S3.9", "25.2R1.9", "icu-across-24.4R1"),  # read from the running one
        ("SRX340", "24.4R1.9", "23.2R2.21", "icu-down-after-24.4R1"),
        ("SRX320", "21.4R3-S5.4", "17.4R3.16", "icu-floor"),
        ("SRX5800", "23.4R2-S3.9", "22.4R3.25", "issu-no-downgrade"),
        ("SRX5400", "10.4R3.4", "10.4R5.5", "issu-from-10.4R4"),
        ("SRX5600", "17.2R2.5", "17.3R3.10", "issu-srx5000-17.3"),
        ("SRX5600", "16.1R7.7", "18.4R3.3", "issu-srx5000-17.3"),
        ("SRX1500", "17.3R3.10", "17.4R2.4", "issu-17.4-train"),
        ("SRX4100", "15.1X49-D150.2", "17.4R3.16", "issu-17.4-train"),
    ],
)
def test_each_rule_refuses_the_hop_it_names(
    model: str, running: str, target: str, rule: str
) -> None:
    verdict = judge(model, running, target)
    assert not verdict.allowed and verdict.documented, verdict
    assert verdict.rule == rule and verdict.source in SOURCES, verdict


@pytest.mark.parametrize(
    ("model", "running", "target"),
    [
        ("SRX345", "24.4R1.9", "24.4R1-S2.3"),  # within 24.4R1, once on it
        ("SRX345", "24.4R1.9", "24.2R2-S1.3"),  # the documented ways down
        ("SRX345", "24.4R1.9", "23.4R2-S3.9"),
        ("SRX5600", "17.3R1.10", "18.4R3.3"),  # on 17.3 already
        ("SRX1500", "17.4R1.16", "17.4R2.4"),  # 17.4 to a later 17.4
        ("SRX320", "21.4R3-S5.4", "18.1R3.3"),  # down to the floor itself
    ],
)
def test_the_nearest_allowed_hops_go_through(model: str, running: str, target: str) -> None:
    assert judge(model, running, target).allowed


def test_every_rule_and_family_has_a_public_source_and_a_status() -> None:
    assert {r.source for r in RULES} | {f.source for f in FAMILIES} <= set(SOURCES)
    assert all(url.startswith("https://") for url in SOURCES.values())
    assert {r.status for r in RULES} | {f.status for f in FAMILIES} == {"confirmed", "inferred"}
    assert len({r.name for r in RULES}) == len(RULES)


@pytest.mark.parametrize(
    ("model", "running", "words"),
    [
        ("SRX4600", "22.4R3.25", "does not list it"),
        ("VSRX", "22.4R3.25", "no upgrade path documented"),
        ("SRX1600", "22.4R3.25", "ISSU from 23.4R1 on"),
        ("SRX1500", "15.1X49-D60.7", "ISSU from 15.1X49-D70 on"),
    ],
)
def test_what_the_table_does_not_know_is_not_documented(
    model: str, running: str, words: str
) -> None:
    verdict = judge(model, running, "24.2R2-S1.3")
    assert not verdict.allowed and not verdict.documented and words in verdict.reason, verdict


def test_the_rollback_limit_after_24_4r1() -> None:
    refused = rollback_refusal("SRX345", "24.4R1.9", "23.4R2-S3.9")
    assert refused is not None and "cannot roll back" in refused
    assert rollback_refusal("SRX345", "24.2R2-S1.3", "23.4R2-S3.9") is None  # before it
    assert rollback_refusal("SRX5800", "24.4R1.9", "23.4R2-S3.9") is None  # not that family


PKG_244 = "/var/tmp/junos-srxsme-24.4R1.9.tgz"
PKG_252 = "/var/tmp/junos-srxsme-25.2R1.9.tgz"


def test_a_hop_the_table_allows_is_one_automated_hop() -> None:
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "24.2R2-S1.3", {"24.2R2-S1.3": "/p.tgz"})
    assert why is None and [(h.to, h.method, h.automated) for h in hops] == [
        ("24.2R2-S1.3", "icu", True)
    ]
    assert hops[0].package == "/p.tgz" and "30 s" in hops[0].outage


def test_across_24_4r1_is_two_hops_through_a_named_24_4r1_build() -> None:
    packages = {"24.4R1.9": PKG_244, "25.2R1.9": PKG_252}
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "25.2R1.9", packages)
    assert why is None
    assert [(h.to, h.method, h.automated, h.package) for h in hops] == [
        ("24.4R1.9", "dual-reboot", True, PKG_244),  # upgrade --allow-outage
        ("25.2R1.9", "icu", True, PKG_252),
    ]
    # without a 24.4R1 build to go through: no plan, and what to add
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "25.2R1.9", {"25.2R1.9": PKG_252})
    assert hops == [] and why is not None and "name a 24.4R1 build" in why


def test_to_24_4r1_is_one_dual_reboot_and_a_refusal_names_the_manual_way() -> None:
    hops, _ = plan_hops("SRX345", "23.4R2-S3.9", "24.4R1.9", {})
    assert [(h.method, h.package) for h in hops] == [("dual-reboot", None)]
    hops, why = plan_hops("SRX5800", "23.4R2-S3.9", "22.4R3.25", {})
    assert hops == [] and why is not None and "ISSU does not support downgrades" in why
    assert "by hand: a new install" in why


# ------------------------------------------------------------------------------ --method

ACROSS = {"24.4R1.9": PKG_244, "25.2R1.9": PKG_252}


def test_method_auto_is_the_tables_own_choice() -> None:
    assert plan_hops("SRX345", "23.4R2-S3.9", "25.2R1.9", ACROSS, "auto") == plan_hops(
        "SRX345", "23.4R2-S3.9", "25.2R1.9", ACROSS
    )
    assert method_refusal("SRX345", "23.4R2-S3.9", "25.2R1.9", ACROSS, "auto") is None


def test_method_icu_where_the_table_allows_it_is_one_icu_hop() -> None:
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "24.2R2-S1.3", {}, "icu")
    assert why is None and [(h.to, h.method) for h in hops] == [("24.2R2-S1.3", "icu")]
    assert method_refusal("SRX345", "23.4R2-S3.9", "24.2R2-S1.3", {}, "icu") is None


def test_method_icu_across_24_4r1_is_refused_with_the_reason_and_the_manual_way() -> None:
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "25.2R1.9", ACROSS, "icu")
    assert hops == [] and why is not None
    assert why.startswith("--method icu: SRX345 cannot use ICU across 24.4R1")
    assert "by hand: KB17947 dual reboot" in why and "--method auto --allow-outage" in why
    assert method_refusal("SRX345", "23.4R2-S3.9", "25.2R1.9", ACROSS, "icu") == why


def test_method_issu_on_a_branch_model_and_icu_on_a_high_end_one_are_refused() -> None:
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "24.2R2-S1.3", {}, "issu")
    assert hops == [] and why is not None and "documents ICU for SRX345, not ISSU" in why
    hops, why = plan_hops("SRX5800", "23.4R2-S3.9", "24.2R2-S1.3", {}, "icu")
    assert hops == [] and why is not None and "documents ISSU for SRX5800, not ICU" in why
    hops, why = plan_hops("SRX5800", "23.4R2-S3.9", "24.2R2-S1.3", {}, "issu")
    assert why is None and [h.method for h in hops] == ["issu"]


def test_method_issu_refused_by_a_rule_names_the_rule_and_the_manual_way() -> None:
    hops, why = plan_hops("SRX5800", "23.4R2-S3.9", "22.4R3.25", {}, "issu")
    assert hops == [] and why is not None and "ISSU does not support downgrades" in why
    assert "by hand: a new install" in why


def test_method_icu_on_an_undocumented_model_is_left_to_the_pre_checks() -> None:
    # the plan says why; upgrade goes to the pre-checks (--allow-undocumented-path decides)
    hops, why = plan_hops("vSRX", "23.4R2-S3.9", "24.2R2-S1.3", {}, "icu")
    assert hops == [] and why is not None and "--allow-undocumented-path" in why
    assert method_refusal("vSRX", "23.4R2-S3.9", "24.2R2-S1.3", {}, "icu") is None
    # a family whose method is another is refused all the same (SRX1500 before D70: ISSU's)
    assert method_refusal("SRX1500", "15.1X49-D60.7", "15.1X49-D80.4", {}, "icu") is not None


def test_method_dual_reboot_makes_every_hop_a_dual_reboot() -> None:
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "25.2R1.9", ACROSS, "dual-reboot")
    assert why is None
    assert [(h.to, h.method, h.package) for h in hops] == [
        ("24.4R1.9", "dual-reboot", PKG_244),
        ("25.2R1.9", "dual-reboot", PKG_252),
    ]
    assert all("--method dual-reboot" in h.reason and "15-25 min" in h.outage for h in hops)
    hops, why = plan_hops("SRX345", "23.4R2-S3.9", "24.2R2-S1.3", {}, "dual-reboot")
    assert why is None and [(h.to, h.method) for h in hops] == [("24.2R2-S1.3", "dual-reboot")]


def test_method_dual_reboot_is_refused_where_the_table_knows_no_way() -> None:
    hops, why = plan_hops("SRX5800", "23.4R2-S3.9", "22.4R3.25", {}, "dual-reboot")
    assert hops == [] and why is not None and "ISSU does not support downgrades" in why
    refusal = method_refusal("SRX5800", "23.4R2-S3.9", "22.4R3.25", {}, "dual-reboot")
    assert refusal == why


def test_method_minimal_downtime_is_always_refused_with_what_is_public_and_missing() -> None:
    for model, running, target in (
        ("SRX345", "23.4R2-S3.9", "24.4R1.9"),
        ("SRX5800", "23.4R2-S3.9", "24.2R2-S1.3"),
    ):
        hops, why = plan_hops(model, running, target, ACROSS, "minimal-downtime")
        assert hops == [] and why == MINIMAL_DOWNTIME_REFUSAL
    assert "KB17947" in MINIMAL_DOWNTIME_REFUSAL
    assert "control and fabric links" in MINIMAL_DOWNTIME_REFUSAL
    assert MINIMAL_DOWNTIME_REFUSAL.endswith("Follow KB17947 by hand")
    assert set(METHODS) == {"auto", "icu", "issu", "dual-reboot", "minimal-downtime"}
