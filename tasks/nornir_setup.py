"""Loading a Nornir config for the srx_* tasks, and preparing its hosts (prepare_host):
`state_dir` is resolved against the config file's directory, so a run from another working
directory finds the same journal (and so never resends what an earlier run sent)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nornir import InitNornir
from nornir.core import Nornir

from tasks.device.connections import plugin
from tasks.device.hosts import prepare_host

__all__ = ["init_nornir", "prepare_host", "resolved_state_dir"]

DEFAULT_STATE_DIR = "state"


def resolved_state_dir(config_file: str | Path, state_dir: str | None) -> Path:
    """`state_dir` of a config file, absolute: relative paths are relative to the file."""
    path = Path(state_dir or DEFAULT_STATE_DIR).expanduser()
    if not path.is_absolute():
        path = Path(config_file).resolve().parent / path
    return path


def init_nornir(config_file: str | Path, **kwargs: Any) -> Nornir:
    """InitNornir(config_file, **kwargs), with user_defined.state_dir made absolute, and the
    node0/node1 connection plugins registered."""
    plugin()
    nr = InitNornir(config_file=str(config_file), **kwargs)
    user = nr.config.user_defined
    user["state_dir"] = str(resolved_state_dir(config_file, user.get("state_dir")))
    return nr
