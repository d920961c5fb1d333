"""Markers by tier, applied to every collected test from its directory: `unit` (no sockets),
`e2e` (the real nornir -> napalm -> PyEZ -> ncclient -> SSH stack against the simulator) and
`fidelity` (real device replies, and raw PyEZ against the simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import warm_processes

TIERS = ("unit", "e2e", "fidelity")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    # The longest test (the explorer's scenarios, two processes for two minutes) goes first:
    # started last, it would run on alone at the end while the other workers sit idle.
    items.sort(key=lambda item: item.get_closest_marker("starts_first") is None)
    root = Path(__file__).parent
    for item in items:
        tier = Path(item.path).relative_to(root).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(TIERS)}}}/")
        item.add_marker(tier)
        group = shared_fixture_home(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


def shared_fixture_home(item: pytest.Item) -> str | None:
    """Where a module- or session-scoped fixture of ours that the test uses is set up once: its
    module, or the directory of its conftest. pytest-xdist's `loadgroup` keeps those tests on
    one worker (the fixture built once) and spreads every other test on its own."""
    info = getattr(item, "_fixtureinfo", None)
    for defs in info.name2fixturedefs.values() if info else ():
        for fixture in defs:
            if fixture.baseid.startswith("tests") and fixture.scope == "session":
                return fixture.baseid
            if fixture.baseid.startswith("tests") and fixture.scope == "module":
                return str(Path(item.path).relative_to(Path(__file__).parent.parent))
    return None


@pytest.fixture(autouse=True)
def coord(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own coordination directory (tasks.state.locks): the device locks of one test's
    runs (and every process it starts) never meet another's, even when a later lab's nodes get
    ports an earlier lab had."""
    path = tmp_path / "coord"
    monkeypatch.setenv("RUNBOOKS_COORD_DIR", str(path))
    return path


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, one zygote (tests/warm_processes.py) for the whole run, started
    by the controller before its workers: each worker would otherwise import the stack once
    more for a zygote of its own (about 2.5 CPU-s each)."""
    worker = getattr(config, "workerinput", None) is not None
    if not worker and config.getoption("numprocesses", None) and not config.option.collectonly:
        warm_processes.share_server()


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None:
        warm_processes.stop_server()


@pytest.fixture(scope="session", autouse=True)
def warm_process_server() -> Iterator[None]:
    """The zygote that forks this worker's runbooks and lab processes (tests/
    warm_processes.py) is stopped at the session's end, as every server a test starts."""
    yield
    warm_processes.stop_server()
