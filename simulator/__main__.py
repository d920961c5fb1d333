"""python -m simulator [--clusters N] [--lab FILE] [--speed X] [--inventory-dir DIR]
[--audit FILE] [--state-out FILE]: serve a lab of SRX chassis clusters until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from simulator.model import DURATIONS, PHASES, Cluster, Node
from simulator.replies import package_digest
from simulator.server import Lab, SimCluster

OLD, NEW, ROLLBACK = "23.4R2-S3.9", "24.2R2-S1.3", "23.2R2.21"
PACKAGE = f"/var/tmp/junos-srxsme-{NEW}.tgz"
PACKAGE_SIZE = 456_130_000
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
    "icu-fails",
    "inconsistent-primary",
    "roles-disagree",
    "abort-slow",
}
SIM_TIMING = {
    "rpc_timeout": 60,
    "connect_timeout": 30,
    "poll_interval": 30,
    "install_deadline": 3600,
    "reboot_deadline": 2700,
    "settle_deadline": 600,
    "abort_deadline": 1800,
    "icu_reply_timeout": 60,
    "icu_estimate": 3300,
}
FLOORS = {
    "rpc_timeout": 10,
    "connect_timeout": 5,
    "poll_interval": 0.2,
    "settle_deadline": 8,
    "reboot_deadline": 8,
    "install_deadline": 8,
    "abort_deadline": 8,
    "icu_reply_timeout": 2,
}


class LabError(Exception):
    """The lab file is wrong."""


def build(spec: dict[str, Any], now: float) -> list[SimCluster]:
    out = []
    for i, entry in enumerate(spec.get("clusters") or []):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise LabError(f"clusters[{i}]: name is required")
        state = entry.get("state", "healthy")
        if state not in STATES:
            raise LabError(f"{entry['name']}: unknown state {state!r}")
        faults = frozenset(entry.get("faults") or [])
        if faults - FAULTS:
            raise LabError(f"{entry['name']}: unknown fault(s) {sorted(faults - FAULTS)}")
        out.append(
            make_cluster(
                str(entry["name"]),
                str(entry.get("model", "SRX345")),
                state,
                faults,
                entry.get("icu_phase"),
                now,
            )
        )
    return out


def make_cluster(
    name: str, model: str, state: str, faults: frozenset[str], icu_phase: str | None, now: float
) -> SimCluster:
    boot = now - 30 * 86400
    nodes = {n: Node(n, OLD, ROLLBACK, booted_at=boot) for n in ("node0", "node1")}
    c = Cluster(
        name,
        model,
        nodes,
        now=now,
        reboot_hangs="reboot-hangs" in faults,
        reboot_factor=3.0 if "slow-reboot" in faults else 1.0,
    )
    if "package-missing" not in faults:
        nodes["node0"].files[PACKAGE] = PACKAGE_SIZE
    if "disk-full" in faults:
        nodes["node1"].free_bytes = 50_000_000
    if "disk-full-primary" in faults:
        nodes["node0"].free_bytes = 50_000_000
    if "version-mismatch" in faults:
        nodes["node1"].release = "23.4R2-S2.1"
    if state == "upgraded":
        for n in nodes.values():
            n.release, n.rollback = NEW, OLD
    elif state == "inconsistent":
        bad = "node0" if "inconsistent-primary" in faults else "node1"
        nodes[bad].release, nodes[bad].rollback = NEW, OLD
        nodes[bad].stale_icu = True
    elif state == "pending-install":
        nodes["node1"].pending = NEW
    elif state == "node-down":
        nodes["node1"].up, nodes["node1"].back_at = False, None
    elif state == "icu-in-progress":
        phase = icu_phase or "install-primary"
        if phase not in PHASES:
            raise LabError(f"{name}: unknown icu_phase {phase!r}")
        before = sum(DURATIONS[p] for p in PHASES[: PHASES.index(phase)])
        c.now = now - before - 1
        ok, text = c.start_icu("node0", PACKAGE, NEW, reboot=True)
        if not ok:
            raise LabError(f"{name}: cannot start the ICU: {text}")
        c.tick(now)
    return SimCluster(c, faults, NEW)


def write_inventory(lab: Lab, directory: Path, speed: float) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    hosts: dict[str, Any] = {}
    by_cluster: dict[str, dict[str, int]] = {}
    for ns in lab.nodes:
        by_cluster.setdefault(ns.cluster.model.name, {})[ns.node] = ns.port
    models = set()
    for i, sc in enumerate(lab.clusters):
        ports = by_cluster[sc.model.name]
        models.add(sc.model.model)
        hosts[sc.model.name] = {
            "hostname": "127.0.0.1",
            "groups": [sc.model.model],
            "data": {"site": f"lab-{'abc'[i % 3]}", "cluster_id": i + 1},
            "connection_options": {
                n: {"hostname": "127.0.0.1", "port": p, "extras": {"optional_args": {"port": p}}}
                for n, p in sorted(ports.items())
            },
        }
    groups = {
        m: {
            "data": {
                "model": m,
                "target_release": NEW,
                "package": PACKAGE,
                "package_size": PACKAGE_SIZE,
                "package_md5": package_digest(PACKAGE, "md5"),
            }
        }
        for m in sorted(models)
    }
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


def dump_state(lab: Lab, path: Path) -> None:
    out: dict[str, Any] = {"clusters": {}}
    for sc in lab.clusters:
        c = sc.model
        c.tick(lab.now())
        out["clusters"][c.name] = {
            "primary": c.primary,
            "icu_phase": c.phase,
            "nodes": {
                n.name: {
                    "release": n.release,
                    "pending": n.pending,
                    "up": n.up,
                    "booted_at": n.booted_at,
                    "stale_icu": n.stale_icu,
                }
                for n in c.nodes.values()
            },
        }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1))
    tmp.replace(path)


async def serve(args: argparse.Namespace, spec: dict[str, Any]) -> None:
    speed = float(args.speed or spec.get("speed") or 1.0)
    audit = open(args.audit, "a") if args.audit else None  # noqa: SIM115
    lab = Lab([], speed=speed, icu_reply=str(spec.get("icu_reply", "silent")), audit=audit)
    lab.clusters = build(spec, lab.now())
    from simulator.server import NodeServer

    lab.nodes = [NodeServer(lab, c, n) for c in lab.clusters for n in ("node0", "node1")]
    await lab.start()
    if args.inventory_dir:
        write_inventory(lab, Path(args.inventory_dir), speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.state_out:
        loop.add_signal_handler(signal.SIGUSR1, dump_state, lab, Path(args.state_out))
    print(f"ready clusters={len(lab.clusters)} inventory={args.inventory_dir}", flush=True)
    await stop.wait()
    if args.state_out:
        dump_state(lab, Path(args.state_out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulator")
    ap.add_argument("--clusters", type=int)
    ap.add_argument("--lab", type=Path)
    ap.add_argument("--speed", type=float)
    ap.add_argument("--inventory-dir")
    ap.add_argument("--audit")
    ap.add_argument("--state-out")
    args = ap.parse_args(argv)
    try:
        spec: dict[str, Any] = {}
        if args.lab:
            spec = yaml.safe_load(args.lab.read_text()) or {}
            if not isinstance(spec, dict):
                raise LabError("lab file must be a mapping")
        if args.clusters:
            spec.setdefault("clusters", [])
            spec["clusters"] = list(spec["clusters"]) + [
                {"name": f"br-{i:04d}"} for i in range(1, args.clusters + 1)
            ]
        if not spec.get("clusters"):
            raise LabError("no clusters: give --clusters N or a lab file")
        build(spec, 0.0)  # validate before listening
    except (LabError, OSError, yaml.YAMLError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    asyncio.run(serve(args, spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
