"""Fixtures of the unit tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import make_rigs


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Any]:
    """rig(*cluster_specs) -> tests.inprocess.Rig: in-process clusters under a virtual clock."""
    yield from make_rigs(tmp_path)
