"""A fleet worked in waves: `--canary N` (a first wave of N, then the rest) or `--waves
1,10%,50%,100%`, and the rule that decides whether the next wave starts.

Each mark of `--waves` is where a wave ends, counted from the start of the fleet (in name
order, as the canary is): `1,10%,50%,100%` on 200 clusters is waves of 1, 19, 80 and 100.
A percentage is rounded up (10% of 5 clusters is 1), a count may be any size; a wave that
would add no cluster is dropped, and a last wave to 100% is implied. The marks must grow.

Between two waves (`next_wave_refused`): with `--canary`, any cluster of the canary that
did not reach its goal stops the run; with `--waves`, any cluster of the waves so far that
did not, unless `--max-failures` is given, whose budget then decides (it stops the run the
moment it is exceeded, inside a wave too). Then, with `--pause-after-canary` (before the
second wave) or `--pause-between-waves` (before every wave after the first), a person's
answer (runbooks.fleet.approval).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tasks.errors import BadInput
from tasks.state.run_context import Outcome


@dataclass(frozen=True)
class WavePlan:
    """How a run's clusters are cut in waves, and when it pauses between them."""

    marks: tuple[str, ...] = ()  # --waves as given; () with no waves
    canary: int = 0  # --canary N: a first wave of N whose every failure stops the run
    pause: str = ""  # "" | "after-canary" | "between-waves"

    def split(self, names: Sequence[str]) -> list[list[str]]:
        """The clusters of each wave, in order (one wave without --canary or --waves)."""
        if self.canary:
            return [w for w in (list(names[: self.canary]), list(names[self.canary :])) if w]
        if not self.marks:
            return [list(names)]
        waves: list[list[str]] = []
        start = 0
        for end in [*wave_ends(self.marks, len(names)), len(names)]:
            if end > start:
                waves.append(list(names[start:end]))
                start = end
        return waves

    def pauses_before(self, index: int) -> bool:
        """Whether the run waits for a person before wave `index` (0 is the first)."""
        if index == 0:
            return False
        return self.pause == "between-waves" or (self.pause == "after-canary" and index == 1)


def parse_marks(spec: str) -> tuple[str, ...]:
    """`--waves`: "1,10%,50%,100%"; BadInput naming the mark that is not a count or a
    percentage."""
    marks = tuple(m.strip() for m in spec.split(",") if m.strip())
    if not marks:
        raise BadInput("--waves needs at least one mark, e.g. --waves 1,10%,50%,100%")
    for mark in marks:
        try:
            value = float(mark[:-1]) if mark.endswith("%") else int(mark)
        except ValueError:
            value = -1
        if mark.endswith("%") and not 0 < value <= 100:
            raise BadInput(f"--waves: {mark!r} is not a percentage above 0 and up to 100%")
        if value < 1:
            raise BadInput(f"--waves: {mark!r} is not a count of clusters (1 or more) or P%")
    return marks


def wave_ends(marks: Sequence[str], total: int) -> list[int]:
    """Where each wave ends in a fleet of `total`; BadInput when the marks do not grow."""
    ends: list[int] = []
    for mark in marks:
        end = math.ceil(total * float(mark[:-1]) / 100) if mark.endswith("%") else int(mark)
        end = min(end, total)
        if ends and end < ends[-1]:
            raise BadInput(
                f"--waves: {mark!r} ends before the wave before it on {total} clusters "
                "(each mark counts from the start of the fleet)"
            )
        ends.append(end)
    return ends


def next_wave_refused(
    plan: WavePlan,
    waves: Sequence[Sequence[str]],
    index: int,
    outcomes: Mapping[str, Outcome],
    budget: bool,
) -> str | None:
    """Why wave `index` must not start given the outcomes of the waves before it (None: it
    may). `budget`: --max-failures was given, and decides for --waves."""
    if plan.canary:
        failed = [n for n in waves[0] if n in outcomes and not outcomes[n].good]
        return f"canary failed: {', '.join(failed)}" if failed else None
    if budget:
        return None
    done = [n for wave in waves[:index] for n in wave]
    failed = [n for n in done if n in outcomes and not outcomes[n].good]
    if not failed:
        return None
    named = ", ".join(failed[:20]) + (f" and {len(failed) - 20} more" if len(failed) > 20 else "")
    return f"wave {index} of {len(waves)}: {len(failed)} not ok ({named})"


def wave_done_words(
    plan: WavePlan, waves: Sequence[Sequence[str]], index: int, outcomes: Mapping[str, Outcome]
) -> str:
    """What the pause before wave `index` says is done: "the canary is ok", "wave 2 of 4 is
    ok", or with failures --max-failures accepted, how many."""
    if plan.canary:
        return "the canary is ok"
    failed = sum(1 for w in waves[:index] for n in w if n in outcomes and not outcomes[n].good)
    if failed:
        return f"wave {index} of {len(waves)} ended ({failed} not ok, within --max-failures)"
    return f"wave {index} of {len(waves)} is ok"
