"""The documentation stands alone: every repository path the README, a page of docs/ or a
docstring or comment of the code names exists in the repository, every relative link of a
page leads to a file, and no file cites a document that lives outside the repository (the
research notes the project was built from, or their sample directory).

A path of another repository is written with that repository in front
(`junos-ops/tests/test_rollback.py`), so it is not taken for one of ours."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from itertools import product
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("tasks", "runbooks", "simulator", "bench", "scripts", "tests", "docs", "examples")
CODE = ("tasks", "runbooks", "simulator", "bench", "scripts", "examples")
SKIP_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".grimp_cache",
    "state",
    "lab",
    "reports",
}

# `tasks/device/junos.py`, docs/operators/abort.md, tests/e2e/test_celery_{fleet,acl}_e2e.py,
# bench/*.py: a top directory of ours, not inside a longer path or a URL.
PATH = re.compile(
    r"(?<![\w./~-])((?:" + "|".join(TOPS) + r")/(?:[\w.*/-]|\{[^{}\s]*\})*)",
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
# The notes outside the repository, by any of the names they have been cited by.
FOREIGN = re.compile(
    r"\.\./shared\b|/work/shared|\bDESIGN\.md|driver-notes|scale-out\.md|junos-reference"
    r"|\bSTYLE\.md|upgrade-methods\.md|\breference(?: section| ?§) ?\d|\breference \d"
)


def docs() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def code() -> list[Path]:
    return sorted(p for top in CODE for p in (ROOT / top).rglob("*.py") if _kept(p))


def _kept(path: Path) -> bool:
    return not SKIP_DIRS.intersection(path.relative_to(ROOT).parts)


def prose(source: str) -> Iterator[str]:
    """A module's docstrings (module, classes, functions) and comments."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield doc
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.string


def expand(token: str) -> list[str]:
    """`a/{b,c}_d.py` -> `a/b_d.py`, `a/c_d.py`."""
    parts = re.split(r"(\{[^{}]*\})", token)
    choices = [p[1:-1].split(",") if p.startswith("{") else [p] for p in parts]
    return ["".join(c) for c in product(*choices)]


def exists(token: str) -> bool:
    token = token.rstrip(".,")
    return all(
        any(ROOT.glob(one)) if "*" in one else (ROOT / one).exists() for one in expand(token)
    )


def named_paths() -> dict[str, list[str]]:
    """Every repository path named, with where it is named (file:line or file: docstring)."""
    found: dict[str, list[str]] = {}
    for page in docs():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for token in PATH.findall(line):
                found.setdefault(token, []).append(f"{page.relative_to(ROOT)}:{n}")
    for module in code():
        for text in prose(module.read_text()):
            for token in PATH.findall(text):
                found.setdefault(token, []).append(str(module.relative_to(ROOT)))
    return found


def test_the_scan_sees_what_it_should() -> None:
    line = "see `tasks/device/junos.py`, docs/operators/abort.md. and tests/e2e/test_{a,b}_e2e.py"
    assert PATH.findall(line) == [
        "tasks/device/junos.py",
        "docs/operators/abort.md.",
        "tests/e2e/test_{a,b}_e2e.py",
    ]
    assert expand("tests/e2e/test_{a,b}_e2e.py") == [
        "tests/e2e/test_a_e2e.py",
        "tests/e2e/test_b_e2e.py",
    ]
    assert PATH.findall("https://x.org/tests/a.py junos-ops/tests/b.py ~/docs/c") == []
    assert not exists("tasks/no_such_module.py") and exists("bench/*.py")
    assert FOREIGN.search("see ../" + "shared/x") and FOREIGN.search("reference " + "section 2")


def test_every_path_a_doc_or_docstring_names_exists() -> None:
    found = named_paths()
    assert len(found) > 100, "the scan found almost nothing: is the pattern broken?"
    missing = [
        f"{token}  (named in {', '.join(where)})"
        for token, where in sorted(found.items())
        if not exists(token)
    ]
    assert not missing, "paths that do not exist:\n" + "\n".join(missing)


def test_every_relative_link_of_a_page_leads_to_a_file() -> None:
    broken = []
    for page in docs():
        for n, line in enumerate(page.read_text().splitlines(), 1):
            for target in LINK.findall(line):
                if re.match(r"[a-z]+:", target) or target.startswith("#"):
                    continue  # a URL, or an anchor of the same page
                if not (page.parent / target.split("#")[0]).exists():
                    broken.append(f"{page.relative_to(ROOT)}:{n}: {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def repository_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*")):
        if path.is_file() and _kept(path) and path != Path(__file__).resolve():
            yield path


@pytest.mark.parametrize("kind", ["docs", "code", "tests", "everything else"])
def test_no_file_cites_a_document_outside_the_repository(kind: str) -> None:
    def of_kind(path: Path) -> bool:
        top = path.relative_to(ROOT).parts[0]
        if top == "docs" or path == ROOT / "README.md":
            return kind == "docs"
        if top in CODE:
            return kind == "code"
        if top == "tests":
            return kind == "tests"
        return kind == "everything else"

    cited = []
    for path in filter(of_kind, repository_files()):
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue  # not text
        for n, line in enumerate(text.splitlines(), 1):
            if FOREIGN.search(line):
                cited.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}")
    assert not cited, "cites a document outside the repository:\n" + "\n".join(cited)
