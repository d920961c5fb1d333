"""Push a file from the runbook host to a node over SFTP (paramiko), streamed in 32 KiB
pieces: memory stays flat whatever the file's size. The node's host key is checked against
the cluster's known_hosts as the NETCONF sessions are (tasks.device.hosts)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tasks.errors import NodeUnreachable

if TYPE_CHECKING:
    import paramiko

Progress = Callable[[int, int], None]  # (bytes sent, total)


@dataclass(frozen=True)
class Endpoint:
    hostname: str
    port: int
    username: str
    password: str
    known_hosts: Path | None  # None: host keys not checked (host_key_check: false)


def push_file(
    end: Endpoint, local: Path, remote: str, *, deadline: float, progress: Progress
) -> str:
    """Copy `local` to `remote` on the node; '' on success, else what went wrong. The
    transfer is cut when it outlasts `deadline` seconds (a partial file may stay)."""
    import paramiko  # here: input checks import this module and must stay light

    try:
        transport = _connect(end, timeout=min(30.0, deadline))
    except (OSError, paramiko.SSHException) as exc:
        raise NodeUnreachable(
            f"cannot open SFTP to {end.hostname}:{end.port}: {type(exc).__name__}: {exc}"
        ) from exc
    timer = threading.Timer(deadline, transport.close)
    timer.daemon = True
    timer.start()
    try:
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:
            return "the node refused the SFTP subsystem"
        with sftp, local.open("rb") as fh:
            sftp.putfo(fh, remote, file_size=os.fstat(fh.fileno()).st_size, callback=progress)
        return ""
    except (OSError, EOFError, paramiko.SSHException) as exc:
        if not timer.is_alive():
            return f"the push outlasted its deadline of {deadline:.0f}s"
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        timer.cancel()
        transport.close()


def _connect(end: Endpoint, *, timeout: float) -> paramiko.Transport:

    import paramiko

    sock = socket.create_connection((end.hostname, end.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    transport.set_keepalive(0)
    try:
        transport.start_client(timeout=timeout)
        _check_key(end, transport.get_remote_server_key())
        transport.auth_password(end.username, end.password)
    except BaseException:
        transport.close()
        raise
    return transport


def _check_key(end: Endpoint, key: paramiko.PKey) -> None:

    import paramiko

    if end.known_hosts is None:
        return
    keys = paramiko.HostKeys(str(end.known_hosts))
    name = end.hostname if end.port == 22 else f"[{end.hostname}]:{end.port}"
    known = keys.lookup(name)
    if known is None or known.get(key.get_name()) != key:
        raise paramiko.SSHException(f"host key of {name} not in {end.known_hosts} (or changed)")
