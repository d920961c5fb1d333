"""Load config + inventory, pick the clusters, prepare their connections; all before any device.

Everything here raises BadInput with a one-line message; the CLI turns it into exit code 2.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.inventory import Host

from tasks import connections
from tasks.errors import BadInput
from tasks.settings import Timing
from tasks.values import NODES

ENV_USER = "JUNOS_USERNAME"
ENV_PASSWORD = "JUNOS_PASSWORD"


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
) -> Fleet:
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
    connections.register()
    nr = select(nr, clusters, filters)
    state_dir = Path(nr.config.user_defined.get("state_dir", "state"))
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        probe = state_dir / f".probe-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise BadInput(f"state_dir {state_dir} is not writable: {exc.strerror}") from None
    for host in nr.inventory.hosts.values():
        prepare_host(host, state_dir, nr.config.user_defined)
    return Fleet(
        nr=nr, state_dir=state_dir, user_defined=nr.config.user_defined, processes=processes
    )


def select(nr: Nornir, clusters: list[str], filters: list[str]) -> Nornir:
    hosts = nr.inventory.hosts
    if not hosts:
        raise BadInput("inventory has no clusters")
    unknown = [c for c in clusters if c not in hosts]
    if unknown:
        raise BadInput(f"unknown cluster(s): {', '.join(unknown)}")
    pairs = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or not key or not value:
            raise BadInput(f"filter must be KEY=VALUE: {f!r}")
        pairs.append((key.strip(), value.strip()))

    def wanted(host: Host) -> bool:
        if clusters and host.name not in clusters:
            return False
        return all(_matches(host, key, value) for key, value in pairs)

    picked = nr.filter(filter_func=wanted)
    if not picked.inventory.hosts:
        raise BadInput("the selection matches no cluster")
    return picked


def _matches(host: Host, key: str, value: str) -> bool:
    if key in ("group", "groups"):
        return any(g.name == value for g in host.groups)
    if key == "name":
        return host.name == value
    actual = host.get(key)
    if isinstance(actual, list):
        return value in [str(a) for a in actual]
    return actual is not None and str(actual) == value


def prepare_host(host: Host, state_dir: Path, user_defined: dict[str, Any]) -> None:
    """Credentials from the environment, per-node connection extras, host-key policy."""
    user = os.environ.get(ENV_USER) or host.username
    password = os.environ.get(ENV_PASSWORD) or host.password
    if not user or not password:
        raise BadInput(f"no credentials: set {ENV_USER} and {ENV_PASSWORD}", cluster=host.name)
    host.username, host.password = user, password
    timing = Timing.resolve(host, user_defined.get("timing"))
    ssh_config = _ssh_config(host, state_dir)
    for node in NODES:
        opts = host.connection_options.get(node)
        if opts is None or not opts.hostname:
            raise BadInput(f"connection_options.{node}.hostname missing", cluster=host.name)
        extras = dict(opts.extras or {})
        optional = dict(extras.get("optional_args") or {})  # own copy per node: nornir-napalm bug
        port = opts.port or optional.get("port") or 830
        try:
            optional["port"] = int(port)
        except (TypeError, ValueError):
            raise BadInput(
                f"connection_options.{node}.port is not a number", cluster=host.name
            ) from None
        opts.port = optional["port"]
        optional["ssh_config_file"] = str(ssh_config.path)
        extras.update(
            optional_args=optional,
            timeout=timing.rpc_timeout,
            connect_timeout=timing.connect_timeout,
            hostkey_verify=ssh_config.verify,
        )
        opts.extras = extras
        opts.platform = "junos"


_KNOWN_CACHE: dict[Path, dict[str, list[str]]] = {}


def _known_index(known: Path) -> dict[str, list[str]]:
    """known_hosts lines by each host name they list (read once per file and run)."""
    index = _KNOWN_CACHE.get(known)
    if index is None:
        index = _KNOWN_CACHE[known] = {}
        for line in known.read_text().splitlines():
            for name in line.split(" ", 1)[0].split(","):
                if name:
                    index.setdefault(name, []).append(line)
    return index


def _extract_known_hosts(host: Host, known: Path, state_dir: Path) -> Path:
    index = _known_index(known)
    mine: list[str] = []
    for node in NODES:
        opts = host.connection_options.get(node)
        if opts is not None and opts.hostname:
            name = opts.hostname if opts.port in (None, 22) else f"[{opts.hostname}]:{opts.port}"
            mine += [ln for ln in index.get(name, []) if ln not in mine]
    if not mine:  # hashed entries or other forms: fall back to the whole file
        return known
    body = "\n".join(mine) + "\n"
    path = (state_dir / "ssh" / f"kh-{hashlib.sha256(body.encode()).hexdigest()[:16]}").resolve()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(body)
        tmp.replace(path)
    return path


@dataclass(frozen=True)
class _SshConfig:
    path: Path
    verify: bool


def _ssh_config(host: Host, state_dir: Path) -> _SshConfig:
    """An ssh_config of our own: the user's ~/.ssh/config must not change ports or keys."""
    check = host.get("host_key_check")
    verify = True if check is None else bool(check)
    known = host.get("known_hosts") or "~/.ssh/known_hosts"
    known_path = Path(os.path.expanduser(str(known))).resolve()
    if verify and not known_path.is_file():
        raise BadInput(
            f"known_hosts file not found: {known_path} (or set host_key_check: false)",
            cluster=host.name,
        )
    if verify:
        # paramiko parses the whole known_hosts on every connect (39 ms for 600 entries):
        # verify each cluster against an extract holding only its own nodes' lines.
        known_path = _extract_known_hosts(host, known_path, state_dir)
    body = (
        f"Host *\n    UserKnownHostsFile {known_path}\n    StrictHostKeyChecking yes\n"
        if verify
        else "Host *\n    StrictHostKeyChecking no\n"
    )
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    path = (state_dir / "ssh" / f"{digest}.conf").resolve()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(body)
        tmp.replace(path)
    return _SshConfig(path=path, verify=verify)
