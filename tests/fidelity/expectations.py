"""The captures' expectations.yaml files, read once per process with libyaml's loader: they
are read while tests are collected, by every pytest worker."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml


@functools.cache
def expectations(path: Path) -> list[dict[str, Any]]:
    return list(yaml.load(path.read_text(), Loader=yaml.CSafeLoader))
