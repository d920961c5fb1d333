"""The fleet in waves (runbooks/fleet/waves.py): how marks cut a fleet, which input is
refused, and when the next wave may start."""

from __future__ import annotations

import pytest

from runbooks.fleet.waves import (
    WavePlan,
    next_wave_refused,
    parse_marks,
    wave_done_words,
    wave_ends,
)
from tasks.errors import BadInput
from tasks.state.run_context import Outcome

NAMES = [f"c{i:03}" for i in range(200)]


def ok() -> Outcome:
    return Outcome("ok", "healthy", {}, "")


def failed() -> Outcome:
    return Outcome("failed", "inconsistent", {}, "boom")


def test_marks_count_from_the_start_of_the_fleet() -> None:
    waves = WavePlan(marks=parse_marks("1,10%,50%,100%")).split(NAMES)
    assert [len(w) for w in waves] == [1, 19, 80, 100]
    assert [n for w in waves for n in w] == NAMES  # every cluster once, in name order


def test_a_percentage_rounds_up_and_a_last_wave_is_implied() -> None:
    waves = WavePlan(marks=parse_marks("10%,3")).split(NAMES[:5])
    assert waves == [["c000"], ["c001", "c002"], ["c003", "c004"]]


def test_marks_that_add_no_cluster_make_no_wave() -> None:
    waves = WavePlan(marks=parse_marks("1,1%,2")).split(NAMES[:3])
    assert [len(w) for w in waves] == [1, 1, 1]


def test_the_canary_is_a_first_wave_and_never_an_empty_one() -> None:
    assert WavePlan(canary=2).split(NAMES[:5]) == [NAMES[:2], NAMES[2:5]]
    assert WavePlan(canary=9).split(NAMES[:3]) == [NAMES[:3]]
    assert WavePlan().split(NAMES[:3]) == [NAMES[:3]]


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("", "at least one mark"),
        ("1,x", "'x' is not a count"),
        ("0", "'0' is not a count"),
        ("150%", "'150%' is not a percentage"),
        ("0%", "'0%' is not a percentage"),
        ("-3", "'-3' is not a count"),
    ],
)
def test_marks_that_are_not_counts_or_percentages_are_refused(spec: str, words: str) -> None:
    with pytest.raises(BadInput, match=words):
        parse_marks(spec)


def test_marks_that_shrink_on_this_fleet_are_refused() -> None:
    with pytest.raises(BadInput, match="'10' ends before the wave before it on 200"):
        wave_ends(parse_marks("50%,10"), 200)
    assert wave_ends(parse_marks("50%,10"), 10) == [5, 10]


def test_any_failure_in_the_waves_so_far_stops_the_next_one() -> None:
    plan = WavePlan(marks=("1", "50%"))
    waves = plan.split(NAMES[:4])
    outcomes = {"c000": ok(), "c001": failed()}
    why = next_wave_refused(plan, waves, 2, outcomes, budget=False)
    assert why == "wave 2 of 3: 1 not ok (c001)"
    assert next_wave_refused(plan, waves, 1, outcomes, budget=False) is None


def test_with_a_failure_budget_the_budget_decides_but_never_for_the_canary() -> None:
    outcomes = {"c000": failed(), "c001": ok()}
    waves_plan = WavePlan(marks=("1", "2"))
    waves = waves_plan.split(NAMES[:4])
    assert next_wave_refused(waves_plan, waves, 1, outcomes, budget=True) is None
    canary = WavePlan(canary=1)
    why = next_wave_refused(canary, canary.split(NAMES[:4]), 1, outcomes, budget=True)
    assert why == "canary failed: c000"


def test_where_the_run_pauses() -> None:
    between = WavePlan(marks=("1", "2"), pause="between-waves")
    after = WavePlan(marks=("1", "2"), pause="after-canary")
    assert [between.pauses_before(i) for i in range(3)] == [False, True, True]
    assert [after.pauses_before(i) for i in range(3)] == [False, True, False]
    assert not any(WavePlan(marks=("1",)).pauses_before(i) for i in range(3))


def test_what_a_pause_says_is_done() -> None:
    plan = WavePlan(marks=("1", "2"))
    waves = plan.split(NAMES[:4])
    assert wave_done_words(plan, waves, 1, {"c000": ok()}) == "wave 1 of 3 is ok"
    said = wave_done_words(plan, waves, 2, {"c000": ok(), "c001": failed()})
    assert said == "wave 2 of 3 ended (1 not ok, within --max-failures)"
    assert wave_done_words(WavePlan(canary=1), waves, 1, {}) == "the canary is ok"
