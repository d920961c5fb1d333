"""Markers by tier, applied to every collected test from its directory: `unit` (no sockets),
`e2e` (the real nornir -> napalm -> PyEZ -> ncclient -> SSH stack against the simulator) and
`fidelity` (real device replies, and raw PyEZ against the simulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

TIERS = ("unit", "e2e", "fidelity")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    root = Path(__file__).parent
    for item in items:
        tier = Path(item.path).relative_to(root).parts[0]
        if tier not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(TIERS)}}}/")
        item.add_marker(tier)


@pytest.fixture(autouse=True)
def coord(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own coordination directory (tasks.state.locks): the device locks of one test's
    runs (and every process it starts) never meet another's, even when a later lab's nodes get
    ports an earlier lab had."""
    path = tmp_path / "coord"
    monkeypatch.setenv("RUNBOOKS_COORD_DIR", str(path))
    return path
