"""A cluster's connection parameters, made safe before any session opens: credentials from
the environment, each node's own napalm options (nornir-napalm shares one dict between hosts),
host keys verified against known_hosts, and an ssh_config of our own so the user's
~/.ssh/config can never change ports, keys or proxies.

Every srx_* task prepares its host itself, so a user's own Nornir script gets the same rules
as the runbooks' CLI (which prepares every host up front, to fail bad input before any
device is contacted).
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nornir.core.inventory import Host

from tasks.errors import BadInput
from tasks.state.paths import FILE_MODE, private_dir
from tasks.state.settings import Timing
from tasks.vocabulary import NODES

ENV_USER = "JUNOS_USERNAME"
ENV_PASSWORD = "JUNOS_PASSWORD"
PREPARED = "srx_prepared"  # marker in each node's extras: prepared once per host and process


def prepare_host(host: Host, state_dir: Path, timing_defaults: dict[str, Any]) -> None:
    """Credentials, per-node connection extras and host-key policy (idempotent)."""
    if prepared(host):
        return
    env_user, env_password = env_credentials()
    user = env_user or host.username
    password = env_password or host.password
    if not user or not password:
        raise BadInput(f"no credentials: set {ENV_USER} and {ENV_PASSWORD}", cluster=host.name)
    host.username, host.password = user, password
    timing = Timing.resolve(host, timing_defaults)
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
        extras[PREPARED] = True
        opts.extras = extras
        opts.platform = "junos"


def env_credentials() -> tuple[str | None, str | None]:
    """JUNOS_USERNAME and JUNOS_PASSWORD (None when unset). One that is set but blank is
    bad input naming it, never a silent fall back to the inventory's nor a login as ''."""
    user, password = os.environ.get(ENV_USER), os.environ.get(ENV_PASSWORD)
    if user is not None and (not user.strip() or any(c.isspace() for c in user)):
        what = "blank" if not user.strip() else "a user name with spaces in it"
        raise BadInput(f"{ENV_USER} is set but {what}: set it to the device user, or unset it")
    if password is not None and not password:
        raise BadInput(f"{ENV_PASSWORD} is set but empty: set it, or unset it")
    return user, password


def node_addresses(host: Host) -> list[tuple[str, int]]:
    """Both nodes' management address and port (of a prepared host)."""
    out = []
    for node in NODES:
        opts = host.connection_options.get(node)
        if opts is not None and opts.hostname:
            out.append((str(opts.hostname), int(opts.port or 830)))
    return out


def prepared(host: Host) -> bool:
    return all(
        (opts := host.connection_options.get(n)) is not None and (opts.extras or {}).get(PREPARED)
        for n in NODES
    )


_KNOWN_CACHE: dict[Path, dict[str, list[str]]] = {}
_KNOWN_LOCK = threading.Lock()


def _known_index(known: Path) -> dict[str, list[str]]:
    """known_hosts lines by each host name they list (read once per file and process)."""
    with _KNOWN_LOCK:
        index = _KNOWN_CACHE.get(known)
        if index is None:
            index = _KNOWN_CACHE[known] = {}
            for line in known.read_text().splitlines():
                for name in line.split(" ", 1)[0].split(","):
                    if name:
                        index.setdefault(name, []).append(line)
        return index


def _extract_known_hosts(host: Host, known: Path, state_dir: Path) -> Path:
    """paramiko parses the whole known_hosts on every connect (39 ms for 600 entries): each
    cluster is verified against an extract holding only its own nodes' lines."""
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
    return _write_once(state_dir, f"kh-{hashlib.sha256(body.encode()).hexdigest()[:16]}", body)


def _write_once(state_dir: Path, name: str, body: str) -> Path:
    """state_dir/ssh/<name>, written atomically once (the name is the content's digest)."""
    path = (private_dir(state_dir / "ssh") / name).resolve()
    if not path.is_file():
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w") as fh:
            fh.write(body)
        tmp.replace(path)
    return path


@dataclass(frozen=True)
class _SshConfig:
    path: Path
    verify: bool


def _ssh_config(host: Host, state_dir: Path) -> _SshConfig:
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
        known_path = _extract_known_hosts(host, known_path, state_dir)
    body = (
        f"Host *\n    UserKnownHostsFile {known_path}\n    StrictHostKeyChecking yes\n"
        if verify
        else "Host *\n    StrictHostKeyChecking no\n"
    )
    name = f"{hashlib.sha256(body.encode()).hexdigest()[:16]}.conf"
    return _SshConfig(path=_write_once(state_dir, name, body), verify=verify)
