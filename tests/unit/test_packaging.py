"""pyproject.toml against the tree: its dependencies are requirements.txt's runtime part (what
`make` installs stays the one list to edit, mirrored), its packages every package (and
subpackage) of tasks, runbooks and simulator, its commands the project's two entry points.
tests/e2e/test_install_e2e.py installs it for real."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("tasks", "runbooks", "simulator")


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def runtime_requirements() -> list[str]:
    """requirements.txt from the top to its "# Test and tooling" line, comments dropped."""
    out = []
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith("# Test"):
            break
        text = line.split("#", 1)[0].strip()
        if text:
            out.append(text)
    return out


def test_dependencies_mirror_the_runtime_requirements() -> None:
    assert pyproject()["project"]["dependencies"] == runtime_requirements()


def test_every_package_of_the_product_is_listed() -> None:
    found = sorted(
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in PRODUCT
        for init in (ROOT / top).rglob("__init__.py")
    )
    assert sorted(pyproject()["tool"]["setuptools"]["packages"]) == found


def test_the_commands_are_the_modules_entry_points() -> None:
    scripts = pyproject()["project"]["scripts"]
    assert scripts == {
        "srx-runbooks": "runbooks.__main__:main",
        "srx-lab": "simulator.__main__:main",
    }
