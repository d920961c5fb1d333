"""Junos release strings: ordering and the ICU path rules of the reference (section 2)."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)|([A-Za-z]+)")
_RELEASE = re.compile(r"^(\d+)\.(\d+)([A-Z])(\d+)(?:-([A-Z])(\d+))?(?:\.(\d+))?", re.IGNORECASE)
BRANCH_ICU = (
    "SRX100",
    "SRX110",
    "SRX210",
    "SRX220",
    "SRX240",
    "SRX300",
    "SRX320",
    "SRX340",
    "SRX345",
    "SRX380",
    "SRX550",
    "SRX650",
)
HIGH_END_ISSU = (
    "SRX1400",
    "SRX1500",
    "SRX3400",
    "SRX3600",
    "SRX4100",
    "SRX4200",
    "SRX4600",
    "SRX5400",
    "SRX5600",
    "SRX5800",
)
SRX300_FAMILY = ("SRX300", "SRX320", "SRX340", "SRX345", "SRX380")


def release_key(release: str) -> tuple[tuple[int, int | str], ...]:
    """Sortable key: 23.4R2.5 < 23.4R2-S3.9 < 24.2R2-S1.3; 12.1X46-D65.4 style too."""
    m = _RELEASE.match(release.strip())
    if m:
        major, minor, kind, rel, _svc, svc_no, spin = m.groups()
        return (
            (1, int(major)),
            (1, int(minor)),
            (0, kind.upper()),
            (1, int(rel)),
            (1, int(svc_no or 0)),
            (1, int(spin or 0)),
        )
    key: list[tuple[int, int | str]] = []
    for num, word in _PART.findall(release):
        key.append((1, int(num)) if num else (0, word.upper()))
    return tuple(key)


def newer(a: str, b: str) -> bool:
    return release_key(a) > release_key(b)


def model_family(model: str) -> str:
    """'SRX345-DUAL-AC' -> 'SRX345'; unknown models come back upper-cased as they are."""
    m = model.upper()
    for name in sorted(BRANCH_ICU + HIGH_END_ISSU, key=len, reverse=True):
        if m.startswith(name):
            return name
    return m


def is_branch(model: str) -> bool:
    return model_family(model) in BRANCH_ICU


def is_high_end(model: str) -> bool:
    return model_family(model) in HIGH_END_ISSU


def path_violation(model: str, current: str, target: str) -> str | None:
    """Why ICU from `current` to `target` is not allowed on `model`, or None."""
    family = model_family(model)
    if family in SRX300_FAMILY and target.upper().startswith("24.4R1"):
        return f"{family} cannot use ICU to go to 24.4R1 (KB85650/KB17947 procedure instead)"
    floor = "18.1R1"
    if (family in SRX300_FAMILY or family == "SRX1500") and release_key(target) < release_key(
        floor
    ):
        return f"ICU cannot downgrade {family} below {floor}"
    del current
    return None
