"""What Junos and SRX hardware do that the runbooks plan around: release ordering, the release
a package installs, model families, and how long things take on real devices (the defaults of
every deadline). Which upgrade path is allowed is tasks/upgrade_paths.py's table.

The runbooks' reading of those rules, for their pre-checks and commands. The simulator does
not import it: the lab enforces the device's rules from its own description of the device
(simulator/device_rules.py), so a wrong rule here fails a test against the lab. It imports
nothing but the standard library.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)|([A-Za-z]+)")
_RELEASE = re.compile(r"^(\d+)\.(\d+)([A-Z])(\d+)(?:-([A-Z])(\d+))?(?:\.(\d+))?", re.IGNORECASE)
_RELEASE_TEXT = r"\d+\.\d+[A-Z]\d+(?:-[A-Z]\d+)?(?:\.\d+)?"  # 24.2R2-S1.3, 12.1X46-D65.4
# junos-srxsme-24.2R2-S1.3.tgz, junos-srxsme-12.1X46-D65.4-domestic.tgz,
# junos-vsrx-x86-64-21.2R3.8.tgz, junos-install-srx5000-x86-64-23.4R2-S3.9-limited.tgz
_PACKAGE_RELEASE = re.compile(
    rf"[-_]({_RELEASE_TEXT})(?:-(?:domestic|export|signed|limited|jc))*\.(?:tgz|tar\.gz)$",
    re.IGNORECASE,
)
_WHOLE_RELEASE = re.compile(_RELEASE_TEXT)

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
    "SRX1600",
    "SRX2300",
    "SRX3400",
    "SRX3600",
    "SRX4100",
    "SRX4200",
    "SRX4300",
    "SRX4600",
    "SRX5400",
    "SRX5600",
    "SRX5800",
)

# Real-world defaults of every deadline, in seconds (config `timing:` and inventory override
# them). A branch node reboots in 15-25 min, a whole ICU takes 30-60 min
# (docs/design/device-facts.md, "Durations").
DEFAULT_TIMING: dict[str, float] = {
    "rpc_timeout": 60,
    "connect_timeout": 30,
    "poll_interval": 30,
    "install_deadline": 3600,
    "reboot_deadline": 2700,
    "settle_deadline": 900,
    "abort_deadline": 1800,
    "icu_reply_timeout": 60,
    "icu_estimate": 3600,
    "idle_abort_watch": 600,
    "handoff_deadline": 30,
}


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


def older_than(release: str, floor: str) -> bool:
    return release_key(release) < release_key(floor)


def is_release(text: str) -> bool:
    """A whole Junos release name (24.2R2-S1.3, 12.1X46-D65.4, 23.4R2.5), nothing around it."""
    return bool(_WHOLE_RELEASE.fullmatch(text))


def package_release(package: str) -> str | None:
    """The release a package installs, read from its name (junos-srxsme-24.2R2-S1.3.tgz)."""
    m = _PACKAGE_RELEASE.search(package.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def model_family(model: str) -> str:
    """'SRX345-DUAL-AC' -> 'SRX345'; unknown models come back upper-cased as they are."""
    m = model.upper()
    for name in sorted(BRANCH_ICU + HIGH_END_ISSU, key=len, reverse=True):
        if m.startswith(name):
            return name
    return m


def is_branch(model: str) -> bool:
    """Branch SRX: ICU, no-sync only."""
    return model_family(model) in BRANCH_ICU


def is_high_end(model: str) -> bool:
    """High-end SRX: the same command is ISSU and needs the `reboot` keyword."""
    return model_family(model) in HIGH_END_ISSU
