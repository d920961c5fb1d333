"""python -m simulator [--clusters N] [--lab FILE] [--speed X] [--inventory-dir DIR]
[--audit FILE] [--state-out FILE]: serve a lab of SRX chassis clusters until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from simulator import transfers
from simulator.model import DURATIONS, PHASES, REJOIN_SECONDS, Cluster, Node
from simulator.replies import package_digest
from simulator.server import Lab, SimCluster

OLD, NEW, ROLLBACK = "23.4R2-S3.9", "24.2R2-S1.3", "23.2R2.21"
PACKAGE_SIZE = 456_130_000
LAB_SERVER = "images.lab.example"  # the pull source the lab serves (simulator.transfers)
STATES = ("healthy", "upgraded", "inconsistent", "pending-install", "icu-in-progress", "node-down")
FAULTS = {
    "package-missing",
    "package-corrupt",
    "disk-full",
    "disk-full-primary",
    "validation-fails",
    "version-mismatch",
    "rg-unhealthy",
    "reboot-hangs",
    "slow-reboot",
    "rpc-silent",
    "session-drop",
    "auth-fails",
    "rollback-fails",
    "reboot-reply-lost",
    "rollback-reply-lost",
    "icu-fails",
    "inconsistent-primary",
    "roles-disagree",
    "abort-slow",
    "package-symlink",
    "control-link-down",
    "fabric-link-down",
    "major-alarm",
    "tunnel-lost-after-upgrade",
    "interface-down-after-upgrade",
    "reply-garbled",
    "phase-holds",
    *transfers.FAULTS,
}
CLUSTER_KEYS = {
    "name",
    "model",
    "state",
    "icu_phase",
    "faults",
    "release",
    "target",
    "data",
    "packages",
}
# Inventory data the lab writes itself (from model, release and target): not in `data:`.
LAB_DATA = {
    "cluster_id",
    "model",
    "target_release",
    "package",
    "package_size",
    "package_md5",
    "package_sha256",
    "package_url",
    "known_hosts",
    "timing",
}
DATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# The `timing:` the lab writes into its inventory, in simulated seconds, scaled to the lab's
# speed by write_inventory: what an operator would set for real devices (a branch node reboots
# in 15-25 min, a whole ICU takes 30-60 min: docs/design/device-facts.md), and as window
# estimate the lab's own ICU (about 52 simulated minutes) plus its verification. The lab's
# table, not the runbooks' defaults (it imports nothing of tasks/);
# tests/unit/simulator/test_device_rules.py checks it names every deadline the runbooks read.
SIM_TIMING: dict[str, float] = {
    "rpc_timeout": 60,
    "connect_timeout": 30,
    "poll_interval": 30,
    "install_deadline": 3600,
    "reboot_deadline": 2700,
    "settle_deadline": 900,
    "abort_deadline": 1800,
    "icu_reply_timeout": 60,
    "icu_estimate": 3300,
    "idle_abort_watch": 600,
    "handoff_deadline": 30,
}
FLOORS = {
    "rpc_timeout": 10,
    "connect_timeout": 30,  # set-up time is real, not simulated: never scaled down
    "poll_interval": 0.2,
    "settle_deadline": 8,
    "reboot_deadline": 15,  # 30 clusters rebooting at once on a loaded machine took > 8 s
    "install_deadline": 8,
    "abort_deadline": 8,
    "icu_reply_timeout": 2,
    "handoff_deadline": 5,
}


class LabError(Exception):
    """The lab file is wrong."""


def build(spec: dict[str, Any], now: float) -> list[SimCluster]:
    out = []
    seen: set[str] = set()
    for i, entry in enumerate(spec.get("clusters") or []):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise LabError(f"clusters[{i}]: name is required")
        name = str(entry["name"])
        if name in seen:
            raise LabError(f"{name}: cluster named twice")
        seen.add(name)
        unknown = set(entry) - CLUSTER_KEYS
        if unknown:
            raise LabError(f"{name}: unknown key(s) {sorted(unknown)}")
        state = entry.get("state", "healthy")
        if state not in STATES:
            raise LabError(f"{name}: unknown state {state!r} (one of {', '.join(STATES)})")
        faults = frozenset(entry.get("faults") or [])
        if faults - FAULTS:
            raise LabError(f"{name}: unknown fault(s) {sorted(faults - FAULTS)}")
        sim = make_cluster(
            name,
            str(entry.get("model", "SRX345")),
            state,
            faults,
            entry.get("icu_phase"),
            now,
            cluster_id=i % 255 + 1,
            release=str(entry.get("release", OLD)),
            target=str(entry.get("target", NEW)),
        )
        sim.data = inventory_data(name, entry.get("data"))
        sim.packages = extra_packages(name, entry.get("packages"), sim)
        out.append(sim)
    return out


def inventory_data(name: str, data: Any) -> dict[str, Any]:
    """A cluster's own `data:` for the generated inventory (site, region, window, ...): a
    mapping of names, none the lab writes itself. The values the runbooks read (timezone,
    window, ...) are theirs to check when they load the inventory (one line, exit 2)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise LabError(f"{name}: data must be a mapping such as {{site: nyc}}")
    for key in data:
        if not isinstance(key, str) or not DATA_KEY.fullmatch(key):
            raise LabError(f"{name}: data key {key!r} is not a name (letters, digits, _ and -)")
        if key in LAB_DATA:
            raise LabError(
                f"{name}: data.{key} is written by the lab (from model, release and target)"
            )
    return dict(data)


def extra_packages(name: str, releases: Any, sim: SimCluster) -> tuple[str, ...]:
    """`packages: [24.4R1.9, ...]`: each release's package on both nodes' /var/tmp (a hop of
    the way to the target), named in the generated inventory's `packages`."""
    if releases is None:
        return ()
    if not isinstance(releases, list) or not all(isinstance(r, str) for r in releases):
        raise LabError(f"{name}: packages must be a list of releases such as [24.4R1.9]")
    for release in releases:
        for node in sim.model.nodes.values():
            node.files[package_for(release)] = PACKAGE_SIZE
    return tuple(releases)


def package_for(target: str) -> str:
    return f"/var/tmp/junos-srxsme-{target}.tgz"


def make_cluster(
    name: str,
    model: str,
    state: str,
    faults: frozenset[str],
    icu_phase: str | None,
    now: float,
    *,
    cluster_id: int = 1,
    release: str = OLD,
    target: str = NEW,
) -> SimCluster:
    boot = now - 30 * 86400
    nodes = {n: Node(n, release, ROLLBACK, booted_at=boot) for n in ("node0", "node1")}
    c = Cluster(name, model, nodes, cluster_id=cluster_id, faults=faults, now=now)
    package = package_for(target)
    if "package-missing" not in faults:
        nodes["node0"].files[package] = PACKAGE_SIZE
    if "package-symlink" in faults:  # the package path is a link to a file elsewhere
        nodes["node0"].files[package] = 41
        nodes["node0"].links[package] = "/var/home/admin/junos.tgz"
    if "disk-full" in faults:
        nodes["node1"].free_bytes = 50_000_000
    if "disk-full-primary" in faults:
        nodes["node0"].free_bytes = 50_000_000
    if "version-mismatch" in faults:
        nodes["node1"].release = "23.4R2-S2.1"
    if state == "upgraded":
        for n in nodes.values():
            n.release, n.rollback = target, release
    elif state == "inconsistent":
        bad = "node0" if "inconsistent-primary" in faults else "node1"
        nodes[bad].release, nodes[bad].rollback = target, release
        nodes[bad].stale_icu = True
        nodes[bad].booted_at = now - 6 * 3600  # it booted the new release last night
    elif state == "pending-install":
        nodes["node1"].pending = target
    elif state == "node-down":
        nodes["node1"].up, nodes["node1"].back_at = False, None
    elif state == "icu-in-progress":
        _mid_icu(c, icu_phase or "install-primary", package, target, now)
    if icu_phase is not None and state != "icu-in-progress":
        raise LabError(f"{name}: icu_phase needs state icu-in-progress")
    if "phase-holds" in faults and state != "icu-in-progress":
        raise LabError(f"{name}: fault phase-holds needs state icu-in-progress")
    c.watch_mixed()  # a cluster left inconsistent before the lab started is recorded
    return SimCluster(c, target)


def _mid_icu(c: Cluster, phase: str, package: str, target: str, now: float) -> None:
    """An ICU started on node0 before the lab started, now in `phase`. It ran normally until
    the lab starts; its faults act from then on."""
    if phase not in PHASES:
        raise LabError(f"{c.name}: unknown icu_phase {phase!r} (one of {', '.join(PHASES)})")
    before = sum(DURATIONS[p] for p in PHASES[: PHASES.index(phase)])
    if phase == "primary-reboot":  # the ICU waits for the secondary to rejoin first
        before += REJOIN_SECONDS
    faults, c.faults, c.now = c.faults, frozenset(), now - before - 1
    for n in c.nodes.values():
        n.booted_at = c.now - 30 * 86400
    ok, text = c.start_icu("node0", package, target, reboot=True)
    if not ok:
        raise LabError(f"{c.name}: cannot start the ICU: {text}")
    c.tick(now)
    c.faults = faults
    c.held = "phase-holds" in faults
    if "slow-reboot" in faults:  # a reboot under way at lab start is slow too
        for n in c.nodes.values():
            if not n.up and n.back_at is not None:
                n.back_at = now + (n.back_at - now) * c.reboot_factor
        if c.phase is not None and c.phase.endswith("reboot"):
            c.phase_ends = now + (c.phase_ends - now) * c.reboot_factor


def write_inventory(lab: Lab, directory: Path, speed: float) -> None:
    """hosts/groups/defaults.yaml and known_hosts for `python -m runbooks --inventory DIR`."""
    directory.mkdir(parents=True, exist_ok=True)
    hosts: dict[str, Any] = {}
    models = set()
    for i, sc in enumerate(lab.clusters):
        models.add(sc.model.model)
        data: dict[str, Any] = {"site": f"lab-{'abc'[i % 3]}", **sc.data}
        data["cluster_id"] = sc.model.cluster_id
        if sc.target != NEW:  # a cluster with a target of its own overrides its model group
            data.update(_target_data(sc.target))
        if sc.packages:  # the hops' packages; the lab file's own `packages:` data wins
            data["packages"] = {r: package_for(r) for r in sc.packages} | data.get("packages", {})
        hosts[sc.model.name] = {
            "hostname": "127.0.0.1",
            "groups": [sc.model.model],
            "data": data,
            "connection_options": {
                ns.node: {
                    "hostname": "127.0.0.1",
                    "port": ns.port,
                    "extras": {"optional_args": {"port": ns.port}},
                }
                for ns in sc.servers
            },
        }
    groups = {m: {"data": {"model": m, **_target_data(NEW)}} for m in sorted(models)}
    timing = {k: round(max(FLOORS.get(k, 0), v / speed), 3) for k, v in SIM_TIMING.items()}
    defaults = {
        "username": lab.username,
        "password": lab.password,
        "platform": "junos",
        "data": {"known_hosts": str((directory / "known_hosts").resolve()), "timing": timing},
    }
    (directory / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    (directory / "groups.yaml").write_text(yaml.safe_dump(groups, sort_keys=False))
    (directory / "defaults.yaml").write_text(yaml.safe_dump(defaults, sort_keys=False))
    lines = []
    for ns in lab.nodes:
        assert ns.key is not None
        pub = ns.key.export_public_key("openssh").decode().split()
        lines.append(f"[127.0.0.1]:{ns.port} {pub[0]} {pub[1]}")
    (directory / "known_hosts").write_text("\n".join(lines) + "\n")


def _target_data(target: str) -> dict[str, Any]:
    package = package_for(target)
    return {
        "target_release": target,
        "package": package,
        "package_size": PACKAGE_SIZE,
        "package_md5": package_digest(package, "md5"),
        "package_url": f"http://{LAB_SERVER}/images/{package.rsplit('/', 1)[-1]}",
    }


def dump_state(lab: Lab, path: Path) -> None:
    """The lab's truth as JSON (tests and scripts compare the runbooks' claims with it)."""
    out: dict[str, Any] = {"clusters": {}}
    for sc in lab.clusters:
        sc.model.tick(lab.now())
        out["clusters"][sc.model.name] = truth(sc.model)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(path)


def truth(c: Cluster) -> dict[str, Any]:
    """One cluster's state as the model holds it (dump_state; simulator/inprocess.py)."""
    return {
        "primary": c.primary,
        "icu_phase": c.phase,
        "abort_pending": c.abort_requested,  # asked for, not landed (the step still runs)
        "rgs": {
            str(rg.rg_id): {
                "primary": rg.primary,
                "manual": rg.manual,
                "failovers": rg.failovers,
                "status": {n: c.rg_status(n, rg.rg_id) for n in c.nodes},
            }
            for rg in c.rgs.values()
        },
        "nodes": {
            n.name: {
                "release": n.release,
                "pending": n.pending,
                "up": n.up,
                "booted_at": n.booted_at,
                "stale_icu": n.stale_icu,
                "installing": n.installing[1] if n.installing else None,
            }
            for n in c.nodes.values()
        },
        "mixed_release": c.mixed,
    }


async def serve(args: argparse.Namespace, spec: dict[str, Any]) -> None:
    speed = float(args.speed or spec.get("speed") or 1.0)
    audit = open(args.audit, "a") if args.audit else None  # noqa: SIM115  (open for the lab's life)
    now = time.time()
    icu_reply = str(args.icu_reply or spec.get("icu_reply") or "silent")
    lab = Lab(build(spec, now), speed=speed, icu_reply=icu_reply, audit=audit, t0_sim=now)
    link = float(args.link_mbps or spec.get("link_mbps") or 100.0)
    sources = {package_for(c.target).rsplit("/", 1)[-1]: PACKAGE_SIZE for c in lab.clusters}
    transfers.configure(link_mbps=link, speed=speed, sources=sources)
    await lab.start()
    if args.inventory_dir:
        write_inventory(lab, Path(args.inventory_dir), speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.state_out:
        loop.add_signal_handler(signal.SIGUSR1, dump_state, lab, Path(args.state_out))
    print(
        f"ready clusters={len(lab.clusters)} nodes={len(lab.nodes)} speed={speed:g} "
        f"inventory={args.inventory_dir}",
        flush=True,
    )
    await stop.wait()
    if args.state_out:
        dump_state(lab, Path(args.state_out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulator")
    ap.add_argument("--clusters", type=int)
    ap.add_argument(
        "--lab",
        type=Path,
        help="a YAML lab file: named clusters with a state, model, release, faults and their "
        "own inventory data (data: {site: nyc}); docs/development/lab-contract.md",
    )
    ap.add_argument("--speed", type=float)
    ap.add_argument("--inventory-dir")
    ap.add_argument("--audit")
    ap.add_argument("--state-out", help="dump the lab's state here on SIGUSR1 and at exit")
    ap.add_argument(
        "--icu-reply",
        choices=("silent", "immediate"),
        help="the ICU RPC's reply: none until the session drops (default), or at once",
    )
    ap.add_argument("--link-mbps", type=float, help="each cluster's link for pulls (100)")
    ap.add_argument("--package-size", type=int, help="bytes of the lab's package")
    args = ap.parse_args(argv)
    if args.package_size:
        global PACKAGE_SIZE
        PACKAGE_SIZE = args.package_size
    try:
        spec: dict[str, Any] = {}
        if args.lab:
            spec = yaml.safe_load(args.lab.read_text()) or {}
            if not isinstance(spec, dict):
                raise LabError("lab file must be a mapping")
        if args.speed is not None and args.speed <= 0:
            raise LabError("--speed must be positive")
        if spec.get("icu_reply", "silent") not in ("silent", "immediate"):
            raise LabError("icu_reply must be silent or immediate")
        if args.clusters:
            spec.setdefault("clusters", [])
            spec["clusters"] = list(spec["clusters"]) + [
                {"name": f"br-{i:04d}"} for i in range(1, args.clusters + 1)
            ]
        if not spec.get("clusters"):
            raise LabError("no clusters: give --clusters N or a lab file")
        build(spec, 0.0)  # validate before listening
        for out in (args.audit, args.state_out):
            if out:
                Path(out).parent.mkdir(parents=True, exist_ok=True)
    except (LabError, OSError, yaml.YAMLError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    asyncio.run(serve(args, spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
