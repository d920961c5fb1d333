"""Which in-service method Juniper documents for a chassis cluster of a model family from the
release it runs to a target release, as one table of data (docs/design/upgrade-paths.md).

`judge(model, running, target)` answers with a `PathVerdict`: the method (`icu` on branch
SRX, `issu` on high-end, where the device runs the same `request system software
in-service-upgrade` command with `reboot`), or why the hop is refused and what to do
instead. Three kinds of answer:

* allowed: the family documents the method and no rule of the table refuses the hop;
* refused by a rule: a documented limit (the 24.4R1 boundary of SRX300-family, a floor, a
  downgrade ISSU does not do, a release ISSU starts from, ...), with the rule's source;
* not documented: a model the table does not know, or one whose in-service method Juniper
  does not list (SRX4600). Refused unless the operator names an override
  (`--allow-undocumented-path`), which the report records.

`rollback_refusal` is the one limit of `request system software rollback` the table holds
(SRX300-family from 24.4R1 back to 23.4R2-S3 or 24.2R2), for recover's rollback step.

Every row names its public source and says whether the source states it (confirmed) or it is
our reading (inferred). The lab has its own description of the device (simulator/
device_rules.py), written apart: a row wrong here fails a test against the lab. Imports
nothing but the standard library and tasks.srx_facts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tasks.srx_facts import model_family, older_than, release_key

SOURCES = {
    "ICU": "https://www.juniper.net/documentation/us/en/software/junos/chassis-cluster-security-devices/topics/task/chassis-cluster-upgrading-and-aborting-backup-and-primary-device-with-icu.html",
    "ISSU": "https://www.juniper.net/documentation/us/en/software/junos/chassis-cluster-security-devices/topics/topic-map/security-chassis-cluster-upgrading-using-in-service-software-upgrade.html",
    "ROLLBACK": "https://www.juniper.net/documentation/us/en/software/junos/cli-reference/other-topics/other-command/request-system-software-rollback-security.html",
    "KB17947": "https://supportportal.juniper.net/s/article/SRX-How-to-upgrade-an-SRX-cluster-with-minimal-down-time",
}
CONFIRMED, INFERRED = "confirmed", "inferred"
SRX300 = ("SRX300", "SRX320", "SRX340", "SRX345", "SRX380")
BOUNDARY = "24.4R1"  # SRX300-family: no ICU to it, nor across it (KB85650/KB17947 instead)
AFTER_BOUNDARY_DOWN_TO = ("23.4R2-S3", "24.2R2")  # the only ICU downgrades from 24.4R1 on
INSTEAD = "upgrade by the KB17947 procedure (dual reboot or minimal downtime) instead"


@dataclass(frozen=True)
class Family:
    """What a model family's chassis cluster upgrades in service with."""

    models: tuple[str, ...]
    method: str | None  # "icu", "issu", or None: Juniper documents no in-service method
    source: str
    status: str
    issu_from: str | None = None  # ISSU from this release on (earlier: not documented)


FAMILIES = (
    Family(SRX300, "icu", "ICU", CONFIRMED),  # ICU with no-sync only; the ISSU page: no ISSU
    Family(
        ("SRX100", "SRX110", "SRX210", "SRX220", "SRX240", "SRX550", "SRX650"),
        "icu",
        "ICU",
        CONFIRMED,
    ),
    Family(("SRX1500",), "issu", "ISSU", CONFIRMED, issu_from="15.1X49-D70"),
    Family(("SRX4100", "SRX4200"), "issu", "ISSU", CONFIRMED, issu_from="15.1X49-D80"),
    Family(("SRX1600", "SRX2300"), "issu", "ISSU", CONFIRMED, issu_from="23.4R1"),
    Family(("SRX4300",), "issu", "ISSU", CONFIRMED, issu_from="24.2R1"),
    Family(("SRX5400", "SRX5600", "SRX5800"), "issu", "ISSU", CONFIRMED),
    Family(("SRX1400", "SRX3400", "SRX3600"), "issu", "ISSU", INFERRED),  # older high-end
    Family(("SRX4600",), None, "ISSU", CONFIRMED),  # not in the ISSU page's list of models
)


@dataclass(frozen=True)
class Rule:
    """One limit of the table: `kind` says how `release` (and `allowed`) judge a hop."""

    name: str
    models: tuple[str, ...]
    method: str  # the method it limits: icu or issu
    kind: str
    release: str
    source: str
    status: str
    says: str  # the reason, with {model} {running} {target} {release}
    allowed: tuple[str, ...] = ()


RULES = (
    Rule(
        "icu-to-24.4R1",
        SRX300,
        "icu",
        "to-from-earlier",
        BOUNDARY,
        "ICU",
        CONFIRMED,
        "{model} cannot use ICU to go to {release} from {running}; " + INSTEAD,
    ),
    Rule(
        "icu-across-24.4R1",
        SRX300,
        "icu",
        "across",
        BOUNDARY,
        "ICU",
        INFERRED,  # the page allows ICU only once the cluster runs 24.4R1
        "{model} cannot use ICU across {release} ({running} -> {target}): reach {release} "
        "first; " + INSTEAD,
    ),
    Rule(
        "icu-down-after-24.4R1",
        SRX300,
        "icu",
        "down-from-only-to",
        BOUNDARY,
        "ICU",
        CONFIRMED,
        "{model} on {running} can go below {release} by ICU only to 23.4R2-S3 or 24.2R2",
        AFTER_BOUNDARY_DOWN_TO,
    ),
    Rule(
        "icu-floor",
        (*SRX300, "SRX1500"),
        "icu",
        "below",
        "18.1R1",
        "ICU",
        CONFIRMED,
        "ICU cannot downgrade {model} below {release}",
    ),
    Rule(
        "issu-no-downgrade",
        (),  # every ISSU model
        "issu",
        "downgrade",
        "",
        "ISSU",
        CONFIRMED,
        "ISSU does not support downgrades ({running} -> {target})",
    ),
    Rule(
        "issu-from-10.4R4",
        (),
        "issu",
        "from-before",
        "10.4R4",
        "ISSU",
        CONFIRMED,
        "ISSU is available only from {release} on ({model} runs {running})",
    ),
    Rule(
        "issu-srx5000-17.3",
        ("SRX5400", "SRX5600", "SRX5800"),
        "issu",
        "to-or-later-from-earlier",
        "17.3R1",
        "ISSU",
        CONFIRMED,
        "{model}: no ISSU to 17.3 or later from an earlier release ({running} -> {target})",
    ),
    Rule(
        "issu-17.4-train",
        ("SRX1500", "SRX4100", "SRX4200"),
        "issu",
        "into-train-from-earlier",
        "17.4",
        "ISSU",
        CONFIRMED,
        "{model}: no ISSU into 17.4 from an earlier release ({running} -> {target})",
    ),
)


@dataclass(frozen=True)
class PathVerdict:
    method: str | None  # the in-service method of this hop, when allowed
    reason: str  # why it is refused, or what allows it
    documented: bool = True  # False: the table knows no answer (an override may allow it)
    rule: str = ""  # the rule or family row that decided
    source: str = ""
    status: str = CONFIRMED

    @property
    def allowed(self) -> bool:
        return self.method is not None and self.documented


def family_of(model: str) -> Family | None:
    name = model_family(model)
    return next((f for f in FAMILIES if name in f.models), None)


def judge(model: str, running: str, target: str) -> PathVerdict:
    """The in-service method Juniper documents for this hop, or why there is none."""
    family, name = family_of(model), model_family(model) or "unknown model"
    if family is None:
        return PathVerdict(None, f"{name}: no upgrade path documented for it", documented=False)
    if family.method is None:
        return PathVerdict(
            None,
            f"{name}: Juniper's ISSU page does not list it; no in-service method documented",
            documented=False,
            rule="family",
            source=family.source,
            status=family.status,
        )
    if family.issu_from and older_than(running, family.issu_from):
        return PathVerdict(
            None,
            f"{name}: ISSU from {family.issu_from} on; from {running} no in-service method "
            "is documented here",
            documented=False,
            rule="family",
            source=family.source,
            status=family.status,
        )
    for rule in RULES:
        ours = rule.method == family.method and (not rule.models or name in rule.models)
        if ours and _applies(rule, running, target):
            values = {"model": name, "running": running, "target": target}
            says = rule.says.format(release=rule.release, **values)
            return PathVerdict(None, says, True, rule.name, rule.source, rule.status)
    how = "ICU (no-sync)" if family.method == "icu" and name in SRX300 else family.method.upper()
    return PathVerdict(family.method, f"{running} -> {target}: {how}", True, "family")


def _applies(rule: Rule, running: str, target: str) -> bool:
    r, t, x = running, target, rule.release
    if rule.kind == "to-from-earlier":  # into x's own builds from before x
        return older_than(r, x) and _of_train(t, x)
    if rule.kind == "across":  # from before x to after x's builds
        return older_than(r, x) and not older_than(t, x) and not _of_train(t, x)
    if rule.kind == "down-from-only-to":
        below = not older_than(r, x) and older_than(t, x)
        return below and not any(_of_train(t, way) for way in rule.allowed)
    if rule.kind == "below":
        return older_than(t, x)
    if rule.kind == "downgrade":
        return older_than(t, r)
    if rule.kind == "from-before":
        return older_than(r, x)
    if rule.kind == "to-or-later-from-earlier":
        return older_than(r, x) and not older_than(t, x)
    if rule.kind == "into-train-from-earlier":
        return _train(t) == x and _train(r) != x and older_than(r, t)
    raise ValueError(f"rule {rule.name}: unknown kind {rule.kind}")


def _train(release: str) -> str:
    """24.4R1-S2.1 -> 24.4"""
    major, _, rest = release.partition(".")
    return f"{major}.{''.join(c for c in rest[:2] if c.isdigit())}" if rest else release


def _of_train(release: str, train: str) -> bool:
    """`release` is a build of `train` (24.4R1.9 and 24.4R1-S2.1 of 24.4R1; 23.4R2-S3.9 of
    23.4R2-S3, 23.4R2.5 not)."""
    up = release.upper()
    t = train.upper()
    return up == t or up.startswith(t + ".") or up.startswith(t + "-")


def rollback_refusal(model: str, running: str, to: str) -> str | None:
    """Why `request system software rollback` from `running` to `to` is not allowed (the
    device's rollback documentation), or None."""
    name = model_family(model)
    if name in SRX300 and not older_than(running, BOUNDARY) and older_than(to, BOUNDARY):
        return (
            f"{name} cannot roll back from {running} to {to} with 'request system software "
            f"rollback' (from {BOUNDARY} on, going back is a new install: {INSTEAD})"
        )
    return None


# ------------------------------------------------------------------------------ hops

OUTAGE = {
    "icu": "about 30 s of traffic loss (ICU with no-sync)",
    "issu": "no planned traffic loss (ISSU)",
    "dual-reboot": "the whole cluster down while both nodes reboot (15-25 min on branch SRX)",
}
# what an operator does instead, per documented refusal
MANUAL = {
    "icu-to-24.4R1": "KB17947 dual reboot (install on both nodes, reboot both together)",
    "icu-across-24.4R1": "KB17947 dual reboot to 24.4R1, then ICU",
    "icu-down-after-24.4R1": "a new install of the release on both nodes (dual reboot)",
    "icu-floor": "a new install of the release on both nodes (dual reboot)",
    "issu-no-downgrade": "a new install of the release on both nodes (dual reboot)",
    "issu-from-10.4R4": "KB17947 dual reboot",
    "issu-srx5000-17.3": "KB17947 dual reboot or minimal-downtime procedure",
    "issu-17.4-train": "KB17947 dual reboot or minimal-downtime procedure",
}


@dataclass(frozen=True)
class Hop:
    """One step of a cluster's way to its target release."""

    to: str
    method: str  # icu | issu | dual-reboot
    package: str | None  # None: the inventory's `packages` names none for this release
    outage: str
    automated: bool  # `upgrade` carries it out (a dual reboot with --allow-outage)
    reason: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


# the methods an operator may ask for (`--method`, `method=`): auto is the table's choice
METHODS = ("auto", "icu", "issu", "dual-reboot", "minimal-downtime")
MINIMAL_DOWNTIME_REFUSAL = (
    "the minimal-downtime procedure is not carried out: Juniper's public KB17947 gives only "
    "its overview (disable the backup node's interfaces, deactivate preempt and interface/IP "
    "monitoring, upgrade the isolated node, move the traffic, upgrade the other, rejoin); its "
    "detailed steps, above all how the two nodes' control and fabric links are kept apart "
    "while they run different releases, are in PDF documents this tool has no public text "
    'of (docs/design/upgrade-paths.md, "Minimal downtime"). Follow KB17947 by hand'
)


def plan_hops(
    model: str, running: str, target: str, packages: dict[str, str], method: str = "auto"
) -> tuple[list[Hop], str | None]:
    """The hops from `running` to `target` (`packages`: release -> package, the target's
    among them), or no hops and why none is documented. `method` (METHODS): `auto` is the
    table's choice; `icu`/`issu` that method for every hop, refused where the table does not
    allow it; `dual-reboot` the table's hops, each by a dual reboot; `minimal-downtime` is
    refused (its documented steps are not public)."""
    if method == "minimal-downtime":
        return [], MINIMAL_DOWNTIME_REFUSAL
    if method in ("icu", "issu"):
        return _forced(model, running, target, packages, method)
    hops, why = _auto(model, running, target, packages)
    if method == "dual-reboot" and hops:
        reason = "dual reboot asked for (--method dual-reboot)"
        return [_dual_reboot(h.to, packages, f"{reason}; the table: {h.reason}") for h in hops], (
            None
        )
    return hops, why


def _forced(
    model: str, running: str, target: str, packages: dict[str, str], method: str
) -> tuple[list[Hop], str | None]:
    """One hop by `method` (icu or issu) where the table allows it, else why not and what
    to do instead."""
    family, name = family_of(model), model_family(model) or "unknown model"
    asked = f"--method {method}"
    if family is not None and family.method is not None and family.method != method:
        return [], (
            f"{asked}: Juniper documents {family.method.upper()} for {name}, not "
            f"{method.upper()}; use --method auto (or {family.method})"
        )
    verdict = judge(model, running, target)
    if verdict.allowed:
        hop = Hop(target, method, packages.get(target), OUTAGE[method], True, verdict.reason)
        return [hop], None
    if not verdict.documented:  # the pre-checks decide (upgrade --allow-undocumented-path)
        return [], f"{asked}: {verdict.reason}; upgrade --allow-undocumented-path to go ahead"
    manual = MANUAL.get(verdict.rule)
    alternative = f"; by hand: {manual}" if manual else ""
    if verdict.rule in ("icu-to-24.4R1", "icu-across-24.4R1"):
        alternative += "; or upgrade --method auto --allow-outage (a dual reboot first)"
    return [], f"{asked}: {verdict.reason}{alternative}"


def _auto(
    model: str, running: str, target: str, packages: dict[str, str]
) -> tuple[list[Hop], str | None]:
    """The table's own choice of hops (method auto)."""
    verdict = judge(model, running, target)
    if verdict.allowed:
        method = str(verdict.method)
        return [
            Hop(target, method, packages.get(target), OUTAGE[method], True, verdict.reason)
        ], None
    if verdict.rule == "icu-to-24.4R1":
        return [_dual_reboot(target, packages, verdict.reason)], None
    if verdict.rule == "icu-across-24.4R1":
        boundary = sorted((r for r in packages if _of_train(r, BOUNDARY)), key=release_key)
        if not boundary:
            return [], (
                f"{verdict.reason}; name a {BOUNDARY} build in the inventory's `packages` to "
                "plan the way through it"
            )
        first = _dual_reboot(boundary[0], packages, f"reach {BOUNDARY} first: {verdict.reason}")
        rest, why = _auto(model, boundary[0], target, packages)
        return ([first, *rest], None) if rest else ([], why)
    manual = MANUAL.get(verdict.rule)
    alternative = f"; by hand: {manual}" if manual else ""
    return [], verdict.reason + alternative


def method_refusal(
    model: str, running: str, target: str, packages: dict[str, str], method: str
) -> str | None:
    """Why `upgrade --method <method>` refuses this cluster before any command (None: it
    goes ahead, the pre-checks then judge as always). `auto` never refuses here; a hop the
    table does not document is left to the pre-checks (--allow-undocumented-path)."""
    if method == "auto" or running == target:
        return None
    hops, why = plan_hops(model, running, target, packages, method)
    if hops or why is None:
        return None
    if method in ("icu", "issu") and not judge(model, running, target).documented:
        family = family_of(model)
        if family is None or family.method in (None, method):
            return None
    return why


def _dual_reboot(to: str, packages: dict[str, str], reason: str) -> Hop:
    """A dual-reboot hop: `upgrade --allow-outage` carries it out (tasks/plans/dual_reboot.py)."""
    return Hop(to, "dual-reboot", packages.get(to), OUTAGE["dual-reboot"], True, reason)
