"""Files the runbooks write: every path built from a cluster name stays under the state
directory, and nothing is readable by other users (journals and transcripts hold every reply,
configuration included)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from tasks.errors import BadInput
from tasks.state.redact import redact

# Letters, digits, dot, dash, underscore; starting with a letter or digit; at most 100.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
DIR_MODE, FILE_MODE = 0o700, 0o600


def check_name(name: str) -> str:
    """`name` if it is safe to build a file name from, else BadInput."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name) or ".." in name:
        raise BadInput(
            f"cluster name {name!r} is not safe for file names "
            "(letters, digits, '.', '-', '_'; starting with a letter or digit; no '..')"
        )
    return name


def under(base: Path, name: str, suffix: str = "") -> Path:
    """base/<name><suffix>, refusing any name that would leave `base`."""
    path = base / f"{check_name(name)}{suffix}"
    if path.resolve().parent != base.resolve():
        raise BadInput(f"{name!r} would leave {base}")
    return path


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) readable by this user only."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    return path


def open_private(path: Path, mode: str = "a") -> int:
    """An fd for `path`, created 0600 whatever the umask."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    if "+" in mode:
        flags = (flags & ~os.O_WRONLY) | os.O_RDWR
    fd = os.open(path, flags, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_json_atomic(path: Path, data: Any) -> None:
    """`data` as JSON (secrets redacted) in `path`, 0600 (write_text_atomic)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def write_text_atomic(path: Path, text: str, *, redacted: bool = True) -> None:
    """`text` (secrets redacted, unless this is a configuration backup) in `path`, 0600: a
    reader sees the old file or the new one, never half of one, and a crash keeps one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(redact(text) if redacted else text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
