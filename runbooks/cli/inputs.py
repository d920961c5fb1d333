"""One validation pass over everything a run is given, before any device is contacted: flags,
output paths, the config file and the whole inventory (every host, group and default, and
each cluster's values as resolved through them). Every problem is one line naming the file
(and the line, for YAML errors), the cluster or group and the key path; the CLI prints the
first (all of them with -v) and exits 2.

The rules themselves (release and package names, URLs, ports, addresses, the inventory's
`data:` and connection shapes, ...) live in tasks.input_rules, which the srx_* tasks apply to
their own arguments and host: the CLI and a user's own script refuse the same input. What
is here is the CLI's own, one concern per module: the command line's flags
(runbooks.cli.input_flags), the files' schemas (runbooks.cli.input_schema), reading the files
(runbooks.cli.input_files) and the inventory as a graph (runbooks.cli.inventory_graph).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runbooks.cli.input_files import load_mapping, sub_mapping
from runbooks.cli.input_flags import check_flags
from runbooks.cli.input_schema import ConfigFile
from runbooks.cli.inventory_graph import check_inventory
from tasks.errors import BadInput
from tasks.input_rules import (
    Problem,
    schema_problems,
)


class InputErrors(BadInput):
    """Everything wrong with a run's input, one Problem each; nothing was sent."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more; -v lists all)" if len(problems) > 1 else ""
        super().__init__(problems[0].line() + more)


def error_text(exc: BadInput, verbose: int) -> str:
    """What the CLI prints: one line, or with -v every problem on a line of its own."""
    if isinstance(exc, InputErrors) and verbose:
        return "".join(f"error: {p.line()}\n" for p in exc.problems)
    return f"error: {exc}\n"


def validate(args: argparse.Namespace) -> None:
    """Flags, output paths, config and inventory; InputErrors listing every problem."""
    problems = list(check_flags(args))
    problems += check_files(Path(args.config), args.inventory)
    if problems:
        raise InputErrors(problems)


def check_files(config: Path, inventory_dir: str | None) -> list[Problem]:
    if not config.is_file():
        return [Problem(str(config), "config file not found")]
    problems: list[Problem] = []
    raw = load_mapping(config, "settings", problems)
    if raw is None:
        return problems
    problems += schema_problems(ConfigFile, raw, str(config))
    if inventory_dir is not None:
        base = Path(inventory_dir)
        if not (base / "hosts.yaml").is_file():
            return [*problems, Problem(inventory_dir, "inventory directory has no hosts.yaml")]
        files = (base / "hosts.yaml", base / "groups.yaml", base / "defaults.yaml")
    else:
        inv = sub_mapping(raw, "inventory")
        if inv.get("plugin", "SimpleInventory") != "SimpleInventory":
            return problems  # another plugin's source is its own business
        names = [sub_mapping(inv, "options").get(k, d) for k, d in _INVENTORY_FILES]
        if not all(isinstance(n, str) for n in names):
            return problems  # already reported by the schema
        hosts, groups, defaults = (Path(n).expanduser() for n in names)
        files = (hosts, groups, defaults)
        if not files[0].is_file():
            return [*problems, Problem(str(files[0]), "inventory hosts file not found")]
    return problems + check_inventory(*files)


_INVENTORY_FILES = (
    ("host_file", "hosts.yaml"),
    ("group_file", "groups.yaml"),
    ("defaults_file", "defaults.yaml"),
)
