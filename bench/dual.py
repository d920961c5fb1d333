"""The explorer's second upgrade method: the dual reboot (tasks/plans/dual_reboot.py, hops.py,
dual_recover.py, dual_abort.py; docs/design/upgrade-paths.md), drawn by bench/simulate.py.

A scenario's `method`:

* `icu`: the lab of today (SRX345 on 23.4R2-S3.9, target 24.2R2-S1.3): one ICU;
* `dual`: an SRX345 on 23.4R2-S3.9 whose target is 24.4R1.9: one dual-reboot hop (install on
  each node, reboot both, verify), `upgrade --allow-outage`;
* `hops`: the same cluster with the target 25.2R1.9: the dual reboot to 24.4R1.9, then an ICU.

On a dual lab a recover or an abort may first meet a dual reboot left half-way: the
scenario's `prelude`, an `upgrade --allow-outage` killed at a destructive send (before or
after the n-th one: an install journaled and never sent, an install received, the reboots
journaled, one node's reboot received, ...), run before the job.

The invariants of the dual reboot (dual_violations), from the audit and the journal:

* each install (`request-package-add`), reboot and cancel (`request-package-rollback`) of
  a node is journaled before it leaves: a `command` record naming the node (dual: install,
  reboot, cancel) or a recovery's `recover-sending`, one record per send;
* a journaled reboot is sent again (a record that `resumes` it) only when the device showed
  the first never happened: no reboot of that node reached the device since the first
  record, and the bound a sent reboot has to show in (rpc_timeout + poll_interval, the
  lab's 60 + 30 s) has passed since it;
* the once-per-node rule of simulate.sent_twice counts a `dual-reboot-ended` as an end.
"""

from __future__ import annotations

import random
from typing import Any

from simulator.__main__ import NEW, OLD, SIM_TIMING

METHODS = ("icu", "dual", "hops")
HOP, BEYOND = "24.4R1.9", "25.2R1.9"
TARGETS = {"icu": NEW, "dual": HOP, "hops": BEYOND}
DUAL_STATES = ("healthy", "healthy", "upgraded", "inconsistent", "pending-install", "node-down")
DUAL_FAULTS = (
    None,
    None,
    "session-drop",
    "rpc-silent",
    "reboot-reply-lost",
    "rollback-reply-lost",
    "rollback-fails",
    "slow-reboot",
    "reboot-hangs",
    "validation-fails",
    "rg-unhealthy",
    "version-mismatch",
    "roles-disagree",
    "reply-garbled",
    "disk-full",
    "major-alarm",
)
# the half-way states an upgrade killed at its n-th destructive send leaves (n: 1 and 2 the
# installs, node1 then node0; 3 and 4 the reboots, node0 then node1)
PRELUDES = tuple(f"{kind}:{n}" for n in range(1, 5) for kind in ("before-send", "after-send"))
RESUME_BOUND = SIM_TIMING["rpc_timeout"] + SIM_TIMING["poll_interval"]
_INTENT_OF = {
    "request-package-add": {("command", "install")},
    "request-reboot": {("command", "reboot"), ("recover-sending", "reboot")},
    "request-package-rollback": {("command", "cancel"), ("recover-sending", "rollback")},
}


def draw(rnd: random.Random, job: str) -> dict[str, Any]:
    """The dual-reboot part of a scenario, drawn after the ICU part (an ICU draw is today's):
    {} for the ICU, else the method, its own state and fault, and a prelude."""
    if rnd.random() >= 1 / 3:
        return {}
    method = rnd.choice(METHODS[1:])
    state, fault = rnd.choice(DUAL_STATES), rnd.choice(DUAL_FAULTS)
    prelude = rnd.choice(PRELUDES) if job != "upgrade" and rnd.random() < 0.75 else None
    return {"method": method, "state": state, "phase": None, "fault": fault, "prelude": prelude}


def lab_spec(method: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The lab cluster of `method` (spec: name, state, faults)."""
    if method == "icu":
        return spec
    return spec | {"model": "SRX345", "release": OLD, "target": TARGETS[method], "packages": [HOP]}


def dual_intent(rec: dict[str, Any]) -> tuple[str, str] | None:
    """(event, what) of a record that says a node's install, reboot or cancel is leaving."""
    if rec["event"] == "command" and rec.get("dual"):
        return ("command", str(rec["dual"]))
    if rec["event"] == "recover-sending":
        return ("recover-sending", str(rec.get("step")))
    return None


def _named(rec: dict[str, Any]) -> list[str]:
    return [str(n) for n in (rec.get("nodes") or [rec.get("node")]) if n]


def journal_first(
    audit: list[dict[str, Any]], records: list[tuple[int, dict[str, Any]]], rpcs: set[str]
) -> list[str]:
    """Each send of `rpcs` (those of _INTENT_OF) to a node with a record of its intent
    before it, one record per send (written at audit length `at`: before send `at`)."""
    credit: dict[tuple[str, str], int] = {}
    out = []
    events = sorted(
        [(at, 0, rec) for at, rec in records] + [(i, 1, r) for i, r in enumerate(audit)],
        key=lambda e: (e[0], e[1]),
    )
    for _, is_send, item in events:
        if not is_send:
            intent = dual_intent(item)
            for rpc, kinds in _INTENT_OF.items():
                if intent in kinds:
                    for node in _named(item):
                        credit[(rpc, node)] = credit.get((rpc, node), 0) + 1
        elif item["rpc"] in rpcs:
            key = (item["rpc"], item["node"])
            if credit.get(key, 0) < 1:
                out.append(f"{item['rpc']} sent to {item['node']} with no journal record first")
            credit[key] = credit.get(key, 0) - 1
    return out


def resumed_reboots(
    audit: list[dict[str, Any]], records: list[tuple[int, dict[str, Any]]]
) -> list[str]:
    """A dual reboot record that `resumes` an earlier one re-sends only to nodes the earlier
    one never reached (no reboot of the node in the audit since it), and only once the
    bound a sent reboot shows in has passed."""
    out = []
    last: tuple[int, dict[str, Any]] | None = None
    for at, rec in records:
        if rec["event"] == "dual-reboot-ended":
            last = None
        if rec["event"] != "command" or rec.get("dual") != "reboot":
            continue
        if rec.get("resumes") and last is not None:
            since, first = last
            took = {r["node"] for r in audit[since:at] if r["rpc"] == "request-reboot"}
            for node in sorted(took & set(_named(rec))):
                out.append(f"the reboot of {node} re-sent, the device had received the first")
            waited = float(rec.get("ts", 0)) - float(first.get("ts", 0))
            if waited < RESUME_BOUND:
                out.append(f"a journaled reboot re-sent {waited:g}s after it (< {RESUME_BOUND:g})")
        last = (at, rec)
    return out


def dual_violations(
    audit: list[dict[str, Any]], records: list[tuple[int, dict[str, Any]]], method: str
) -> list[str]:
    """The dual reboot's own invariants (journal first, resumed reboots) on a dual lab."""
    if method == "icu":
        return []
    return journal_first(audit, records, set(_INTENT_OF)) + resumed_reboots(audit, records)


def dual_sends(audit: list[dict[str, Any]], records: list[tuple[int, dict[str, Any]]]) -> set[int]:
    """Audit indexes of the sends a dual reboot's record announced (exempt from the ICU
    recovery's order abort -> rollback -> reboot)."""
    out: set[int] = set()
    marks = sorted((at, dual_intent(rec)) for at, rec in records if dual_intent(rec))
    j, current = 0, None
    for i, r in enumerate(audit):
        while j < len(marks) and marks[j][0] <= i:
            current = marks[j][1]
            j += 1
        if current is not None and current[0] == "command" and r["rpc"] in _INTENT_OF:
            out.add(i)
    return out
