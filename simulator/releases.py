"""Junos release names as the simulated device reads them: its own ordering, its own reading of
a package's file name. The lab keeps these apart from the runbooks' (tasks/srx_facts.py) on
purpose: a parse that goes wrong there must not make the lab agree with it
(docs/development/lab-contract.md, "The lab's rules are its own").
"""

from __future__ import annotations

import re
from typing import NamedTuple

# 24.2R2-S1.3, 23.4R2.5, 12.1X46-D65.4, 18.1R1 (a train: no service release, no build)
_TEXT = r"(\d+)\.(\d+)([A-Za-z])(\d+)(?:-([A-Za-z])(\d+))?(?:\.(\d+))?"
_RELEASE = re.compile(_TEXT)
# junos-srxsme-24.2R2-S1.3.tgz, junos-srxsme-12.1X46-D65.4-domestic.tgz,
# junos-install-srx5000-x86-64-23.4R2-S3.9-limited.tgz
_PACKAGE = re.compile(
    r"[-_](\d+\.\d+[A-Za-z]\d+(?:-[A-Za-z]\d+)?(?:\.\d+)?)"
    r"(?:-(?:domestic|export|signed|limited|jc))*\.(?:tgz|tar\.gz)$",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"(\d+)|([A-Za-z]+)")


class Release(NamedTuple):
    """24.2R2-S1.3 = Release(24, 2, "R", 2, "S", 1, 3); what a name leaves out is None."""

    major: int
    minor: int
    kind: str  # R (release), X (special train), B, F, I ...
    number: int
    service_kind: str | None  # S (service release), D (X-train drop)
    service: int | None
    build: int | None


def parse(text: str) -> Release | None:
    """The release a name starts with, or None when it is not a Junos release name."""
    m = _RELEASE.match(text.strip())
    if not m:
        return None
    major, minor, kind, number, service_kind, service, build = m.groups()
    return Release(
        int(major),
        int(minor),
        kind.upper(),
        int(number),
        service_kind.upper() if service_kind else None,
        int(service) if service else None,
        int(build) if build else None,
    )


def _key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sortable: 23.4R2.5 < 23.4R2-S3.9 < 24.2R2-S1.3; a train (18.1R1) sorts before its
    builds; a name that is no release sorts by its numbers and words."""
    r = parse(text)
    if r is None:
        return tuple((1, int(n)) if n else (0, w.upper()) for n, w in _TOKEN.findall(text))
    return (
        (1, r.major),
        (1, r.minor),
        (0, r.kind),
        (1, r.number),
        (0, r.service_kind or ""),
        (1, r.service or 0),
        (1, r.build or 0),
    )


def older(release: str, than: str) -> bool:
    return _key(release) < _key(than)


def of_train(release: str, train: str) -> bool:
    """`release` is a build of `train`: every part the train names is the release's own
    (24.4R1.9 and 24.4R1-S2.1 are of 24.4R1; 23.4R2-S3.9 is of 23.4R2-S3, 23.4R2.5 is not)."""
    r, t = parse(release), parse(train)
    if r is None or t is None:
        return False
    return all(want is None or got == want for got, want in zip(r, t, strict=True))


def of_package(package: str) -> str | None:
    """The release a package installs, read from its file name as the device's installer
    names it (junos-srxsme-24.2R2-S1.3.tgz -> 24.2R2-S1.3)."""
    m = _PACKAGE.search(package.rsplit("/", 1)[-1])
    return m.group(1) if m else None
