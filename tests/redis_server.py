"""A private redis-server for the Celery engine's tests: a unix socket in the test's tmp dir,
append-only with fsync on every write (the durability the README asks of production), no TCP
port. Started per test, always stopped (SIGKILL as the last resort)."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "r.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def broker(self) -> str:
        return f"redis+socket://{self.socket}"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:  # make test installs it: a missing server is a broken set-up, not a skip
            raise RuntimeError("redis-server not on PATH: run make test (it installs it)")
        cmd = [exe, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"]
        cmd += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)]
        cmd += ["--save", "", "--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.monotonic() + 10
        client = redis.Redis(unix_socket_path=str(self.socket))
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
