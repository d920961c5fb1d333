"""What a simulated SRX accepts of `request system software in-service-upgrade`, per model
family, written from Juniper's public documentation. The lab's own rules: it imports nothing of
the runbooks (tasks/), so a pre-check that allows what a device refuses fails a test against
the lab instead of agreeing with it (docs/development/lab-contract.md, "The lab's rules are its
own").

Sources ([C] stated there, [I] our reading, the device's words where none are published):
[ICU]  Juniper TechLibrary, "Upgrade Firewalls in a Chassis Cluster Using ICU",
       https://www.juniper.net/documentation/us/en/software/junos/chassis-cluster-security-devices/topics/task/chassis-cluster-upgrading-and-aborting-backup-and-primary-device-with-icu.html
[ISSU] Juniper TechLibrary, "Upgrading a Chassis Cluster Using In-Service Software Upgrade",
       https://www.juniper.net/documentation/us/en/software/junos/chassis-cluster-security-devices/topics/topic-map/security-chassis-cluster-upgrading-using-in-service-software-upgrade.html
[ROLLBACK] Juniper CLI reference, "request system software rollback (Junos OS)",
       https://www.juniper.net/documentation/us/en/software/junos/cli-reference/other-topics/other-command/request-system-software-rollback-security.html
[CAP]  tests/fidelity/captures/core/rpc-error/variant-icu-timestamped-*: a high-end device's
       answer to the command without `reboot`.
[ADD]  tests/fidelity/captures/core/request-package-add/*: real `request system software add`
       replies (SRX branch success "JUNOS <release> will become active at next reboot", the
       "is not found or empty" refusal), from Juniper/py-junos-eznc's test data and issues.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator import releases


@dataclass(frozen=True)
class Family:
    name: str
    models: tuple[str, ...]
    issu: bool  # the command is ISSU (high-end: needs `reboot`), else ICU (branch, no-sync)
    downgrade_floor: str | None = None  # ICU never goes below this release
    icu_hop: str | None = None  # ICU cannot go TO this release from an earlier one
    icu_hop_downgrades: tuple[str, ...] = ()  # once on icu_hop or later: the only way down
    issu_hop: str | None = None  # ISSU cannot go to this release or later from an earlier one
    issu_train: str | None = None  # ISSU cannot go to this train's releases from an earlier one
    issu_from: str | None = None  # ISSU only from this release on (the model's first ISSU)
    no_rollback_below: str | None = None  # from this release on, rollback cannot go below it


FAMILIES = (
    # [ICU]: SRX300/320/340/345/380 cannot use ICU to upgrade to 24.4R1 (KB85650 or the
    # KB17947 procedure instead); once on 24.4R1, ICU upgrades to any later release or
    # downgrades from one to 23.4R2-S3 or 24.2R2; never below 18.1R1. ICU is no-sync only
    # there. [ISSU]: SRX300 Series do not support ISSU.
    # [ROLLBACK]: on these, `request system software rollback` from 24.4R1 to 23.4R2-S3 or
    # 24.2R2 is not allowed (a new install instead).
    Family(
        "SRX300",
        ("SRX300", "SRX320", "SRX340", "SRX345", "SRX380"),
        issu=False,
        downgrade_floor="18.1R1",
        icu_hop="24.4R1",
        icu_hop_downgrades=("23.4R2-S3", "24.2R2"),
        no_rollback_below="24.4R1",
    ),
    # [ICU] [C]: ICU on the older branch SRX (SRX100-650, SRX550); [ISSU]: no
    # ISSU on SRX550M. Their floors are not on the current pages: none enforced.
    Family(
        "branch",
        ("SRX100", "SRX110", "SRX210", "SRX220", "SRX240", "SRX550", "SRX650"),
        issu=False,
    ),
    # [ICU]: ICU never below 18.1R1 on SRX1500. [ISSU]: SRX1500/4100/4200 no ISSU to 17.4
    # releases from an earlier release (17.4 to later 17.4 releases is supported).
    # [ISSU]: ISSU from 15.1X49-D70 on SRX1500, from 15.1X49-D80 on SRX4100/4200, from 23.4R1
    # on SRX1600/2300, from 24.2R1 on SRX4300.
    Family(
        "SRX1500",
        ("SRX1500",),
        issu=True,
        downgrade_floor="18.1R1",
        issu_train="17.4",
        issu_from="15.1X49-D70",
    ),
    Family(
        "SRX4100", ("SRX4100", "SRX4200"), issu=True, issu_train="17.4", issu_from="15.1X49-D80"
    ),
    Family("SRX1600", ("SRX1600", "SRX2300"), issu=True, issu_from="23.4R1"),
    Family("SRX4300", ("SRX4300",), issu=True, issu_from="24.2R1"),
    # [ISSU]: SRX5400/5600/5800 no ISSU to 17.3 and later releases from an earlier release.
    Family("SRX5000", ("SRX5400", "SRX5600", "SRX5800"), issu=True, issu_hop="17.3R1"),
    # [ISSU], [CAP] [C]: the command is ISSU on high-end SRX. SRX4600 [I]: not in the
    # ISSU page's list; taken as high-end.
    Family("high-end", ("SRX1400", "SRX3400", "SRX3600", "SRX4600"), issu=True),
)
ISSU_FROM = "10.4R4"  # [ISSU]: ISSU is available only from Junos OS 10.4R4 on
REBOOT_KEYWORD = "'reboot' keyword must be specified. Aborting ISSU"  # [CAP]


def family_of(model: str) -> Family | None:
    """'SRX345-DUAL-AC' -> the SRX300 family; None for a model the lab does not know."""
    m = model.upper()
    known = [(name, f) for f in FAMILIES for name in f.models if m.startswith(name)]
    if not known:
        return None
    return max(known, key=lambda pair: len(pair[0]))[1]


def refusal(model: str, running: str, target: str, *, reboot: bool) -> str | None:
    """The device's answer when it refuses the command at once (None: it starts)."""
    family = family_of(model)
    if family is None or family.issu:
        if not reboot:  # a model the lab does not know answers as high-end does
            return REBOOT_KEYWORD
        return _issu_refusal(family, running, target) if family else None
    return _icu_refusal(family, model, running, target)


def _icu_refusal(family: Family, model: str, running: str, target: str) -> str | None:
    """[ICU] for SRX300-family (the words are the lab's [I]: Juniper publishes none)."""
    name = model.upper()
    if _below_floor(family, running, target):
        return f"error: ICU cannot downgrade {name} below {family.downgrade_floor}; aborting ICU"
    hop = family.icu_hop
    if hop and releases.older(running, hop) and releases.of_train(target, hop):
        return (
            f"error: {name} cannot use ICU to go to {hop} from {running} "
            "(KB85650/KB17947 procedure instead); aborting ICU"
        )
    if hop and releases.older(running, hop) and not releases.older(target, hop):
        # [I]: the page allows ICU past 24.4R1 only once the cluster runs it
        return (
            f"error: {name} cannot use ICU from {running} to {target} across {hop}: "
            f"upgrade to {hop} first (KB85650/KB17947 procedure); aborting ICU"
        )
    ways = family.icu_hop_downgrades
    below = hop and not releases.older(running, hop) and releases.older(target, hop)
    if below and not any(releases.of_train(target, way) for way in ways):
        return (
            f"error: ICU on {name} from {running} can go below {hop} only to "
            f"{' or '.join(ways)}; aborting ICU"
        )
    return None


def _issu_refusal(family: Family, running: str, target: str) -> str | None:
    """[ISSU] and [ICU] for high-end SRX (the words are the lab's [I])."""
    if _below_floor(family, running, target):
        floor = family.downgrade_floor
        return f"error: cannot downgrade {family.name} below {floor}; aborting ISSU"
    if releases.older(target, running):
        return "error: ISSU does not support software downgrades; aborting ISSU"
    if releases.older(running, ISSU_FROM):
        return f"error: ISSU is not supported from {running} (needs {ISSU_FROM}); aborting ISSU"
    if family.issu_from and releases.older(running, family.issu_from):
        return (
            f"error: ISSU is not supported on {family.name} from {running} "
            f"(needs {family.issu_from}); aborting ISSU"
        )
    hop = family.issu_hop
    if hop and releases.older(running, hop) and not releases.older(target, hop):
        return f"error: ISSU to {target} from {running} is not supported; aborting ISSU"
    train = family.issu_train
    if train and releases.older(running, train) and _in_train(target, train):
        return f"error: ISSU to {target} from {running} is not supported; aborting ISSU"
    return None


def _below_floor(family: Family, running: str, target: str) -> bool:
    """A downgrade to a release below the family's floor (an upgrade to one is no downgrade)."""
    floor = family.downgrade_floor
    return bool(floor) and releases.older(target, running) and releases.older(target, str(floor))


def _in_train(release: str, train: str) -> bool:
    """24.2R2-S1.3 is in train 24.2; 17.4R3.5 in 17.4."""
    r = releases.parse(release)
    return r is not None and f"{r.major}.{r.minor}" == train


def rollback_refusal(model: str, running: str, to: str) -> str | None:
    """The device's answer when `request system software rollback` cannot go from `running`
    to `to` ([ROLLBACK]; the words are the lab's [I])."""
    family = family_of(model)
    below = family.no_rollback_below if family else None
    if below and not releases.older(running, below) and releases.older(to, below):
        return (
            f"error: rollback from {running} to {to} is not supported on {model.upper()}; "
            "install the release instead; rollback aborted"
        )
    return None


PENDING_WORDS = (
    "ERROR: There is already an install pending.\n"
    "ERROR:     Use the 'request system reboot' command to complete the install,\n"
    "ERROR:     or the 'request system software rollback' command to back it out."
)


def install_refusal(
    model: str,
    *,
    icu: bool,
    pending: bool,
    busy: bool,
    present: bool,
    package: str,
    free: int,
    size: int,
    invalid: bool,
) -> str | None:
    """The device's answer when `request system software add` on one node is refused at
    once (None: it installs). The not-found words are [ADD]'s; the others the lab's [I]."""
    if icu:
        return "error: in-service-upgrade state active on this node; aborting install"
    if busy:
        return "error: Another package installation in progress"
    if pending:
        return PENDING_WORDS
    if not present:
        return f"ERROR: package: {package} is not found or empty"
    if free < 2 * size:  # unpacked next to itself, as the ICU's pre-check assumes
        return f"ERROR: not enough space in /var/tmp to install {package}\nERROR: No packages added"
    if invalid:
        return "error: configuration check-out failed\nValidation failed\nERROR: No packages added"
    return None


def install_done(release: str) -> str:
    """[ADD]: what a successful install on SRX branch prints last."""
    return (
        f"JUNOS {release} will become active at next reboot\n"
        "WARNING: A reboot is required to load this software correctly\n"
        "WARNING:     Use the 'request system reboot' command\n"
        "WARNING:         when software installation is complete\n"
        "Saving state for rollback ..."
    )
