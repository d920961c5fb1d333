"""Reading the config and inventory files: YAML errors with their line, a mapping where one
is expected, and which files a run reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ruamel.yaml

from tasks.input_rules import (
    Problem,
)

_MISSING = object()


def sub_mapping(mapping: Any, key: str) -> dict[Any, Any]:
    """mapping[key] when both are mappings, else {} (the schema reports the wrong shapes)."""
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, dict) else {}


def load_yaml(path: Path, problems: list[Problem]) -> Any:
    """The parsed file (the loader Nornir uses), or _MISSING with the problem recorded."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(label, f"cannot read: {getattr(exc, 'strerror', None) or exc}"))
        return _MISSING
    try:
        return ruamel.yaml.YAML(typ="safe").load(text)
    except ruamel.yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        problems.append(Problem(where, f"YAML error: {problem}"))
        return _MISSING


def load_mapping(path: Path, what: str, problems: list[Problem]) -> dict[Any, Any] | None:
    data = load_yaml(path, problems)
    if data is _MISSING:
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        problems.append(Problem(str(path), f"top level must be a mapping of {what}, not a {kind}"))
        return None
    return data
