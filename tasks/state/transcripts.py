"""`<state_dir>/runs/<run id>/transcripts/<cluster>.log`: every command sent and every reply.

One open file per cluster, flushed per line (a crash keeps what was written), readable by
this user only: replies carry configuration."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tasks.state.paths import open_private, private_dir, under
from tasks.state.redact import redact

Recorder = Callable[[str, str, str], None]  # (node, "sent" | "reply" | "error", text)


class Transcripts:
    def __init__(self, run_dir: Path) -> None:
        self.dir = run_dir / "transcripts"
        self._files: list[TextIO] = []
        self._lock = threading.Lock()

    def recorder(self, cluster: str) -> Recorder:
        path = under(private_dir(self.dir), cluster, ".log")
        fh = os.fdopen(open_private(path, "a"), "a")
        with self._lock:
            self._files.append(fh)
        lock = threading.Lock()  # the two nodes of a cluster are observed in parallel

        def record(node: str, kind: str, text: str) -> None:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            with lock:
                if not fh.closed:
                    fh.write(redact(f"{stamp} {node} {kind}: {text}") + "\n")
                    fh.flush()

        return record

    def close(self) -> None:
        with self._lock:
            for fh in self._files:
                fh.close()
            self._files.clear()
