"""Processes started warm: `python -m runbooks ...` and `python -m simulator ...` as forks of
one process per pytest worker that imported them once (a "zygote", as Android's and the
product's own shards, runbooks/fleet/shards.py, do), instead of a fresh interpreter that
imports nornir, napalm, PyEZ, Celery and the simulator again: about 1.3 CPU-s a runbooks
process and 0.5 a lab, a few hundred of them a suite.

What a test gets is still a process of its own, started as `subprocess.Popen` starts one:
its own pid and (with `start_new_session`) process group, its own cwd, environment, argv
and standard streams (the test's files, pipes or /dev/null, passed over a unix socket), its
signals, its exit code (negative for a signal, as Popen's), the interpreter's exit
(non-daemon threads joined, atexit handlers, streams flushed) emulated at the end. Killing
it (kill, killpg) is killing it. `popen` falls back to `subprocess.Popen` for every other
command line (a shell, a script, pip).

`python -m tests.warm_processes SOCKET` is the zygote; it ends when its stdin closes (the
pytest worker that started it is gone) and serves one fork per connection.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import runpy
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
WARM = ("runbooks", "simulator")  # `python -m` modules started warm
COLD_ENV = "TESTS_COLD_PROCESSES"  # =1: every process a fresh interpreter (to compare, debug)
SHARED_ENV = "TESTS_WARM_SOCKET"  # the socket of the zygote the whole run shares
CPU_LOG_ENV = "TESTS_WARM_CPU_LOG"  # a file: each warm process's CPU seconds, one JSON line
PRELOAD = (
    "runbooks.__main__",
    "runbooks.cli.main",
    "runbooks.engines.celery_worker",
    "runbooks.fleet.approval",
    "runbooks.output.change_report",
    "napalm.junos",
    "tasks.device.asyncssh_devices",
    "celery",
    "redis",
    "simulator.__main__",
)


# ---- the test's side ------------------------------------------------------------------


class WarmProcess:
    """What `subprocess.Popen` gives, for a process the zygote forked: pid, poll, wait,
    returncode, send_signal/terminate/kill, and stdin/stdout/stderr for PIPE."""

    def __init__(self, args: list[str], conn: socket.socket, streams: list[IO[Any] | None]):
        self.args = args
        self._conn = conn
        self._buf = b""
        self.stdin, self.stdout, self.stderr = streams
        self.returncode: int | None = None
        self.pid = int(self._line(None) or -1)
        if self.pid < 0:
            raise OSError(f"the warm-process server did not start {args}")

    def _line(self, timeout: float | None) -> str | None:
        while b"\n" not in self._buf:
            self._conn.settimeout(timeout)
            try:
                data = self._conn.recv(4096)
            except (TimeoutError, BlockingIOError):  # settimeout(0.0): non-blocking
                return None
            if not data:
                raise OSError("the warm-process server went away")
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def poll(self) -> int | None:
        if self.returncode is None:
            line = self._line(0.0)
            if line is not None:
                self._ended(line)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            line = self._line(timeout)
            if line is None:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            self._ended(line)
        assert self.returncode is not None
        return self.returncode

    def _ended(self, line: str) -> None:
        self.returncode = int(line)
        self._conn.close()

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Server:
    """The zygote of this pytest worker, started on first use."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="warm-")
        self.path = os.path.join(self.dir, "z.sock")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.warm_processes", self.path],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline() != b"ready\n":
            self.stop()
            raise OSError("the warm-process server did not start")

    def stop(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.dir)


_server: _Server | None = None
_lock = threading.Lock()


def share_server() -> None:
    """Start a zygote now and hand its socket to every process started from here on (the
    pytest-xdist workers: one zygote for the whole run, not one each)."""
    global _server
    with _lock:
        if _server is None:
            _server = _Server()
        os.environ[SHARED_ENV] = _server.path


def stop_server() -> None:
    """Stop this worker's zygote (the session's end: tests/conftest.py)."""
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None
            os.environ.pop(SHARED_ENV, None)


def _fd(stream: Any, default: int, pipe_end: str) -> tuple[int, IO[Any] | None, list[int]]:
    """The fd the child gets for one standard stream; (fd, our end of a PIPE, fds to close)."""
    if stream is None:
        return default, None, []
    if stream == subprocess.DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR)
        return fd, None, [fd]
    if stream == subprocess.PIPE:
        r, w = os.pipe()
        if pipe_end == "read":  # the child's stdin: we write
            return r, os.fdopen(w, "w"), [r]
        return w, os.fdopen(r, "r"), [w]
    if isinstance(stream, int):
        return stream, None, []
    return stream.fileno(), None, []


def popen(
    cmd: list[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    stdin: Any = None,
    stdout: Any = None,
    stderr: Any = None,
    start_new_session: bool = False,
    text: bool = False,
) -> Any:
    """`subprocess.Popen(cmd, ...)`; `[sys.executable, "-m", <WARM module>, ...]` forked
    warm. PIPE streams are text (the tests read lines)."""
    cold = os.environ.get(COLD_ENV) == "1"
    if cold or len(cmd) < 3 or cmd[0] != sys.executable or cmd[1] != "-m" or cmd[2] not in WARM:
        return subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=start_new_session,
            text=text,
        )
    global _server
    with _lock:
        path = os.environ.get(SHARED_ENV, "")
        if not path:  # no zygote shared by the whole run: this process's own
            if _server is None or _server.proc.poll() is not None:
                _server = _Server()
            path = _server.path
    fds, ours, close = [], [], []
    for stream, default, end in ((stdin, 0, "read"), (stdout, 1, "write")):
        fd, mine, extra = _fd(stream, default, end)
        fds.append(fd)
        ours.append(mine)
        close += extra
    if stderr == subprocess.STDOUT:
        fds.append(fds[1])
        ours.append(None)
    else:
        fd, mine, extra = _fd(stderr, 2, "write")
        fds.append(fd)
        ours.append(mine)
        close += extra
    request = {
        "module": cmd[2],
        "argv": cmd[3:],
        "cwd": str(cwd or os.getcwd()),
        "env": dict(os.environ if env is None else env),
        "setsid": start_new_session,
    }
    body = json.dumps(request).encode()
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        socket.send_fds(conn, [struct.pack("!I", len(body))], fds)
        conn.sendall(body)
        return WarmProcess(list(cmd), conn, ours)
    finally:
        for fd in close:
            os.close(fd)


def run(
    cmd: list[str],
    *,
    cwd: str | Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    capture_output: bool = False,
    text: bool = False,
) -> subprocess.CompletedProcess[Any]:
    """`subprocess.run(cmd, ...)` through `popen`; captured output goes through temporary
    files (no pipe to drain while waiting)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if capture_output:
            proc = popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err)
        else:
            proc = popen(cmd, cwd=cwd, env=env)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        said = []
        for f in (out, err):
            f.seek(0)
            data = f.read() if capture_output else None
            said.append(data.decode(errors="replace") if text and data is not None else data)
        return subprocess.CompletedProcess(cmd, code, said[0], said[1])


# ---- the zygote -------------------------------------------------------------------------


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    head, fds, _, _ = socket.recv_fds(conn, 4, 3)
    while len(head) < 4:
        head += conn.recv(4 - len(head))
    (size,) = struct.unpack("!I", head)
    body = b""
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise OSError("request cut short")
        body += chunk
    return json.loads(body), list(fds)


def _exit_code(code: Any) -> int:
    """SystemExit's code as the interpreter turns it into an exit status."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def _child(request: dict[str, Any], fds: list[int]) -> None:
    """In the fork: become `python -m <module> <argv>` in its cwd and environment, then end
    as the interpreter would. Never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if request["setsid"]:
            os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in set(fds):
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["module"], *request["argv"]]
        try:
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = _exit_code(exc.code)
        except KeyboardInterrupt:
            traceback.print_exc()
            code = -int(signal.SIGINT)
        except BaseException:
            sys.excepthook(*sys.exc_info())
            code = 1
        with contextlib.suppress(BaseException):
            threading._shutdown()  # type: ignore[attr-defined]  # non-daemon threads joined
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BaseException):
                stream.flush()
        if code < 0:  # an uncaught KeyboardInterrupt ends by SIGINT, as CPython does
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        os._exit(code if code >= 0 else 1)


def serve(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(128)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    sel.register(0, selectors.EVENT_READ)
    children: dict[int, socket.socket] = {}
    started: dict[int, dict[str, Any]] = {}  # pid -> its request (CPU_LOG_ENV)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        for key, _ in sel.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                forked = _fork(conn, children, (listener, sel, wake_r, wake_w))
                if forked is not None:
                    started[forked[0]] = forked[1]
            elif key.fileobj == wake_r:
                os.read(wake_r, 4096)
                _reap(children, started)
            elif not os.read(0, 4096):  # the pytest worker closed our stdin: done
                return


def _fork(
    conn: socket.socket, children: dict[int, socket.socket], own: tuple[Any, Any, int, int]
) -> tuple[int, dict[str, Any]] | None:
    try:
        request, fds = _read_request(conn)
    except (OSError, ValueError):
        conn.close()
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        own[0].close()
        own[1].close()
        os.close(own[2])
        os.close(own[3])
        for other in children.values():
            other.close()
        conn.close()
        _child(request, fds)
    for fd in fds:
        os.close(fd)
    children[pid] = conn
    with contextlib.suppress(OSError):
        conn.sendall(f"{pid}\n".encode())
    return pid, request


def _reap(children: dict[int, socket.socket], started: dict[int, dict[str, Any]]) -> None:
    while children:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _account(started.pop(pid, {}), usage)
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
            conn.close()


def _account(request: dict[str, Any], usage: Any) -> None:
    """With CPU_LOG_ENV set (bench/ and profiling the suite): one JSON line per process
    ended, its command, cwd and CPU seconds (its own and its reaped children's)."""
    log = os.environ.get(CPU_LOG_ENV)
    if log and request:
        cpu = usage.ru_utime + usage.ru_stime
        line = {"argv": request["argv"][:2], "cwd": request["cwd"], "cpu": round(cpu, 3)}
        with open(log, "a") as f:
            f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    serve(sys.argv[1])
