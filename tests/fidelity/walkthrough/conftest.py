"""Fixtures of the independent PyEZ walkthrough: one lab for the session (OS-picked ports,
always stopped), and the walkthrough run once against it, its observations shared by every
test of this directory."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import (
    CLUSTERS,
    PART_OF,
    PARTS,
    SPEED,
    Lab,
    Log,
    Part,
    needed,
    run_walkthrough,
)

HERE = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fidelity: the simulator observed by code independent of the runbooks"
    )


def _selected_parts(items: list[pytest.Item]) -> list[str]:
    """The parts whose checks the selected tests of this directory ask about (all of them when
    a selected test is not about one check)."""
    parts: set[str] = set()
    for item in items:
        if "walkthrough" not in getattr(item, "fixturenames", ()):
            continue
        if not Path(item.path).resolve().is_relative_to(HERE):
            continue
        callspec = getattr(item, "callspec", None)
        name = callspec.params.get("check") if callspec is not None else None
        if name not in PART_OF:
            return list(PARTS)
        parts.add(PART_OF[name])
    return list(parts) or list(PARTS)


@pytest.fixture(scope="session")
def walkthrough_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The simulator with the walkthrough's clusters (walk-a, walk-b, walk-c)."""
    lab = Lab(
        tmp_path_factory.mktemp("pyez-walkthrough"), SPEED, CLUSTERS, Log("lab: ", time.monotonic())
    )
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def walkthrough(walkthrough_lab: Lab, request: pytest.FixtureRequest) -> dict[str, Part]:
    """Each part needed by the selected tests, run once (the scenarios concurrently, on
    clusters of their own); what each observed, by part.  The whole log is also written to
    walkthrough.log in the lab's directory."""
    parts = needed(_selected_parts(request.session.items))
    observed = run_walkthrough(walkthrough_lab, parts)
    text = [walkthrough_lab.log.text()]
    for part in observed.values():
        text += [f"===== part {part.key} ({part.seconds:.1f}s)", part.log.text()]
    (walkthrough_lab.dir / "walkthrough.log").write_text("\n".join(text) + "\n")
    return observed
