"""A synthetic upgrade report of any size, shaped like a real run's (python -m runbooks
upgrade): per cluster its outcome, releases, pre-checks, command, services before and after,
configuration diff and timeline; the canary first, then the rest in waves of an in-flight
limit. Deterministic for a given size and seed: the HTML tests and bench/html_report.py
render it."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
START = datetime(2026, 12, 7, 1, 0, 0, tzinfo=UTC).timestamp()
CHECKS = ("path-rules", "cluster-healthy", "free-space", "package-present", "no-pending-install")
STEPS = (  # a real upgrade's steps (tasks/plans/upgrade.py) and about how long each takes
    ("connect", 3),
    ("pre-checks", 6),
    ("configuration before", 2),
    ("services before", 4),
    ("start-icu", 2),
    ("icu secondary-installed", 240),
    ("icu primary-installed", 200),
    ("icu secondary-rebooting", 30),
    ("icu secondary-back", 300),
    ("icu primary-rebooting", 30),
    ("icu primary-back", 320),
    ("verify", 8),
    ("services after", 4),
    ("configuration after", 2),
)


def synthetic_report(clusters: int, *, seed: int = 7, in_flight: int = 25) -> dict[str, Any]:
    rnd = random.Random(seed)
    entries: dict[str, Any] = {}
    slots = [START + 60.0] * in_flight  # when each in-flight slot is free again
    for i in range(clusters):
        name = f"site{i // 4:03d}-fw{i % 4}"
        if i == 0:  # the canary, alone
            begin = START
        else:
            k = min(range(in_flight), key=slots.__getitem__)
            begin = max(slots[k], START + 2400.0) + rnd.uniform(0, 20)
        entry = _cluster(rnd, i, begin)
        end = max(s["end"] for s in entry.get("timeline") or [{"end": begin}])
        if i:
            slots[k] = end
        entries[name] = entry
    finished = max(
        (s["end"] for c in entries.values() for s in c.get("timeline") or []), default=START
    )
    return {
        "job": "upgrade",
        "run_id": "20261207T010000Z-5a7b1c",
        "started": datetime.fromtimestamp(START - 5, UTC).isoformat(timespec="seconds"),
        "finished": datetime.fromtimestamp(finished + 5, UTC).isoformat(timespec="seconds"),
        "clusters": dict(sorted(entries.items())),
    }


def _cluster(rnd: random.Random, i: int, begin: float) -> dict[str, Any]:
    fate = rnd.random()
    if i % 97 == 50:
        return _not_started()
    failed_at = "icu secondary-back" if fate < 0.05 else None
    refused = 0.05 <= fate < 0.08
    timeline, t = [], begin
    for phase, seconds in STEPS:
        took = seconds * rnd.uniform(0.7, 1.4)
        timeline.append({"phase": phase, "start": round(t, 3), "end": round(t + took, 3)})
        t += took
        if refused and phase == "pre-checks":
            break
        if phase == failed_at:
            timeline.append({"phase": "abort", "start": round(t, 3), "end": round(t + 40, 3)})
            break
    checks = [
        {"name": c, "passed": not (refused and c == "free-space"), "evidence": _evidence(c, rnd)}
        for c in CHECKS
    ]
    entry: dict[str, Any] = {"checks": checks, "timeline": timeline}
    if refused:
        return {
            "outcome": "failed",
            "state": "healthy",
            "versions": {"node0": OLD, "node1": OLD},
            "detail": "pre-check free-space failed: 310 MB free on node1, 1.2 GB needed",
            **entry,
        }
    entry["plan"] = {
        "node": "node0",
        "command": f"request system software in-service-upgrade /var/tmp/junos-{NEW}.tgz no-sync",
    }
    entry["services"] = _services(rnd, lost=failed_at is not None)
    if failed_at:
        return {
            "outcome": "aborted",
            "state": "healthy",
            "versions": {"node0": OLD, "node1": OLD},
            "detail": "ICU stopped during secondary-back: node1 did not rejoin; aborted",
            **entry,
        }
    entry["config"] = {
        "dir": f"state/runs/20261207T010000Z-5a7b1c/config/site{i // 4:03d}-fw{i % 4}",
        "diff": {
            "node0": [f"- set version {OLD}", f"+ set version {NEW}"],
            "node1": [f"- set version {OLD}", f"+ set version {NEW}"],
        },
    }
    return {
        "outcome": "ok",
        "state": "healthy",
        "versions": {"node0": NEW, "node1": NEW},
        "detail": f"both nodes on {NEW}",
        **entry,
    }


def _not_started() -> dict[str, Any]:
    return {
        "outcome": "not-started",
        "state": "unknown",
        "versions": {},
        "detail": "maintenance window closed before its turn",
    }


def _evidence(check: str, rnd: random.Random) -> str:
    return {
        "path-rules": f"{OLD} -> {NEW}: ICU (no-sync)",
        "cluster-healthy": "RG0 primary node0, RG1 primary node0, both nodes ok",
        "free-space": f"node0 {rnd.randint(2, 9)}.{rnd.randint(0, 9)} GB, node1 "
        f"{rnd.randint(2, 9)}.{rnd.randint(0, 9)} GB free",
        "package-present": f"/var/tmp/junos-{NEW}.tgz on both nodes, sha256 matches",
        "no-pending-install": "nothing pending",
    }[check]


def _services(rnd: random.Random, *, lost: bool) -> dict[str, Any]:
    interfaces = {f"ge-0/0/{n}": "up" for n in range(6)}
    before = {
        "interfaces": interfaces,
        "tunnels": [f"gw-{n}#1" for n in range(rnd.randint(1, 4))],
        "routes": {"inet.0": rnd.randint(20, 400)},
        "alarms": [],
        "sessions": {"node0": rnd.randint(100, 9000), "node1": rnd.randint(0, 50)},
    }
    after = {**before, "sessions": {"node0": rnd.randint(100, 9000), "node1": 3}}
    if lost:
        after = {**after, "interfaces": {**interfaces, "ge-0/0/3": "down"}, "tunnels": []}
    return {"before": before, "after": after}
