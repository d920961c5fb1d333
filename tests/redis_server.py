"""A private redis-server for the Celery engine's tests: a unix socket in the test's tmp dir,
append-only with fsync on every write (the durability docs/operators/celery.md asks of
production), no TCP port. Started per test, always stopped (SIGKILL as the last resort)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

ADMIN = ("admin", "admin-secret")  # the tests' own user on a server with an ACL


class RedisServer:
    """`acl`: the ACL file's user lines, `user default off` among them; the first user's
    name and password (`user NAME on >PASSWORD ...`) go into `url` and `broker`, and the
    tests' own client logs in as ADMIN (added to the file)."""

    def __init__(self, workdir: Path, acl: list[str] | None = None) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "r.sock"
        self.proc: subprocess.Popen[bytes] | None = None
        self.acl = acl
        self.login = ""
        if acl:
            words = acl[0].split()
            secret = next(w[1:] for w in words if w.startswith(">"))
            self.login = f"{words[1]}:{secret}@"

    @property
    def url(self) -> str:
        return f"unix://{self.login}{self.socket}"

    @property
    def broker(self) -> str:
        return f"redis+socket://{self.login}{self.socket}"

    def client(self, **options: Any) -> redis.Redis:  # type: ignore[type-arg]
        """A client of the server, as ADMIN when it has an ACL."""
        if self.acl:
            options.update(username=ADMIN[0], password=ADMIN[1])
        return redis.Redis(unix_socket_path=str(self.socket), **options)

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:  # make test installs it: a missing server is a broken set-up, not a skip
            raise RuntimeError("redis-server not on PATH: run make test (it installs it)")
        cmd = [exe, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        cmd += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)]
        cmd += ["--save", "", "--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        if self.acl:
            users = self.dir / "users.acl"
            users.write_text("\n".join([*self.acl, f"user {ADMIN[0]} on >{ADMIN[1]} ~* &* +@all"]))
            cmd += ["--aclfile", str(users)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        client = self.client()
        while time.monotonic() < end:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.dir / 'redis.log').read_text()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not answer within 10 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@pytest.fixture(name="redis_server")
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                server.proc.send_signal(signal.SIGCONT)  # a test may have stopped it
        server.stop()
