"""Load config + inventory, pick the clusters, prepare their connections; all before any device.

Everything here raises BadInput with a one-line message; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.inventory import Host

from tasks.errors import BadInput
from tasks.input_rules import InputRefused, host_problems
from tasks.nornir_setup import prepare_host, resolved_state_dir
from tasks.state.paths import check_name, private_dir
from tasks.state.settings import Timing
from tasks.transports import checked_transport


@dataclass
class Fleet:
    nr: Nornir  # filtered to the selected clusters
    state_dir: Path
    user_defined: dict[str, Any]
    processes: int | None = None  # --processes; None: chosen by the fleet's size

    @property
    def workers(self) -> int:
        """Clusters worked at once, across all processes (--workers, else the config's)."""
        return int(self.nr.config.runner.options.get("num_workers", 20))

    @property
    def names(self) -> list[str]:
        return sorted(self.nr.inventory.hosts)

    def timing(self, host: Host) -> Timing:
        return Timing.resolve(host, self.user_defined.get("timing"))


def load(
    *,
    config_file: str,
    inventory_dir: str | None,
    clusters: list[str],
    filters: list[str],
    workers: int | None,
    dry_run: bool = False,
    processes: int | None = None,
    origins: dict[str, str] | None = None,
    transport: str | None = None,
) -> Fleet:
    """`origins`: where a cluster name came from when not --cluster (fleet.select).
    `transport`: --transport, over the config's user_defined.transport (tasks.transports)."""
    config_path = Path(config_file)
    if not config_path.is_file():
        raise BadInput(f"config file not found: {config_file}")
    overrides: dict[str, Any] = {"logging": {"enabled": False}}
    if inventory_dir is not None:
        inv = Path(inventory_dir)
        if not (inv / "hosts.yaml").is_file():
            raise BadInput(f"inventory directory has no hosts.yaml: {inventory_dir}")
        overrides["inventory"] = {
            "plugin": "SimpleInventory",
            "options": {
                "host_file": str(inv / "hosts.yaml"),
                "group_file": str(inv / "groups.yaml"),
                "defaults_file": str(inv / "defaults.yaml"),
            },
        }
    if processes is not None and processes < 1:
        raise BadInput("--processes must be at least 1")
    if workers is not None:
        if workers < 1:
            raise BadInput("--workers must be at least 1")
        overrides["runner"] = {"plugin": "threaded", "options": {"num_workers": workers}}
    try:
        nr = InitNornir(config_file=str(config_path), dry_run=dry_run, **overrides)
    except Exception as exc:  # nornir/ruamel/pydantic raise many types for a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise BadInput(f"cannot load config/inventory: {type(exc).__name__}: {first}") from exc
    nr = select(nr, clusters, filters, origins)
    state_dir = _state_dir(config_path, nr)
    user = nr.config.user_defined
    user["transport"] = checked_transport(transport or user.get("transport"))
    timing = nr.config.user_defined.get("timing") or {}
    plugin_problems(nr, timing)
    for host in nr.inventory.hosts.values():
        try:
            check_name(host.name)
        except BadInput as exc:
            raise BadInput(exc.message, cluster=host.name) from None
        prepare_host(host, state_dir, timing)
    return Fleet(
        nr=nr, state_dir=state_dir, user_defined=nr.config.user_defined, processes=processes
    )


def _state_dir(config_path: Path, nr: Nornir) -> Path:
    """The config's state_dir, absolute (written back into the config) and writable."""
    state_dir = resolved_state_dir(config_path, nr.config.user_defined.get("state_dir"))
    nr.config.user_defined["state_dir"] = str(state_dir)
    try:
        private_dir(state_dir)
        probe = state_dir / f".probe-{os.getpid()}-{threading.get_ident()}"  # threads load too
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"state_dir {state_dir} is not writable: {exc.strerror}") from None
    return state_dir


def plugin_problems(nr: Nornir, timing: Any) -> None:
    """An inventory from another plugin than SimpleInventory: the CLI's file checks could
    not read its source, so each selected cluster's values are checked here, as Nornir
    resolved them, by the rules every srx_* task applies (tasks.input_rules): bad input is
    exit code 2 before any device, never a cluster's state in the report."""
    if nr.config.inventory.plugin == "SimpleInventory":
        return  # its files were checked whole (runbooks.cli.inputs), with their lines
    problems = [
        dataclasses.replace(p, cluster=p.cluster or host.name)
        for host in nr.inventory.hosts.values()
        for p in host_problems(host, timing)
    ]
    if problems:
        raise InputRefused(problems)


def select(
    nr: Nornir, clusters: list[str], filters: list[str], origins: dict[str, str] | None = None
) -> Nornir:
    """The clusters named (`origins`: where a name came from, e.g. '--from-report FILE';
    '--cluster' otherwise) that match every KEY=VALUE filter."""
    hosts = nr.inventory.hosts
    if not hosts:
        raise BadInput("inventory has no clusters")
    unknown_clusters([c for c in clusters if c not in hosts], origins or {})
    pairs = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or not key or not value:
            raise BadInput(f"filter must be KEY=VALUE: {f!r}")
        pairs.append((key.strip(), value.strip()))
    unknown_keys(nr, [key for key, _ in pairs])

    def wanted(host: Host) -> bool:
        if clusters and host.name not in clusters:
            return False
        return all(_matches(host, key, value) for key, value in pairs)

    picked = nr.filter(filter_func=wanted)
    if not picked.inventory.hosts:
        raise BadInput("the selection matches no cluster")
    return picked


def unknown_clusters(unknown: list[str], origins: dict[str, str]) -> None:
    """BadInput naming the first cluster the inventory lacks, per origin, and how many more."""
    if not unknown:
        return
    by_origin: dict[str, list[str]] = {}
    for name in unknown:
        by_origin.setdefault(origins.get(name, "--cluster"), []).append(name)
    parts = []
    for origin, names in by_origin.items():
        if origin == "--cluster":  # typed by the operator: every one of them
            parts.append(f"unknown cluster(s): {', '.join(names)}")
            continue
        more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
        parts.append(f"{origin}: cluster {names[0]} is not in the inventory{more}")
    raise BadInput("; ".join(parts))


_SELECTORS = ("group", "groups", "name")


def inventory_keys(nr: Nornir) -> set[str]:
    """Every data key a cluster has: its own, its groups' (and theirs), the defaults'."""
    keys = set(nr.inventory.defaults.data)
    for host in nr.inventory.hosts.values():
        keys.update(host.data)
        for group in host.extended_groups():
            keys.update(group.data)
    return keys


def unknown_keys(nr: Nornir, keys: list[str]) -> None:
    """A filter on a key no cluster has matches nothing: say so, with the keys there are."""
    missing = [k for k in dict.fromkeys(keys) if k not in _SELECTORS]
    if not missing:
        return
    known = inventory_keys(nr)
    missing = [k for k in missing if k not in known]
    if missing:
        names = ", ".join(repr(k) for k in missing)
        there = ", ".join(sorted(known | {"group", "name"}))
        raise BadInput(f"--filter: no cluster has the key {names} (keys: {there})")


def _matches(host: Host, key: str, value: str) -> bool:
    if key in ("group", "groups"):
        return any(g.name == value for g in host.groups)
    if key == "name":
        return host.name == value
    actual = host.get(key)
    if isinstance(actual, list):
        return value in [str(a) for a in actual]
    return actual is not None and str(actual) == value
