"""The two transports side by side, in one run on one SSH lab: `status` over napalm/PyEZ,
`status` over asyncssh, and a plain asyncssh NETCONF 1.0 client sending the same RPCs over
the same number of sessions (host keys verified, 100 sessions at once) as the limit of
what the wire allows. Each is a process of its own, measured the same way (wall, CPU of
the process tree, peak RSS); repetitions are interleaved.

    python bench/transport.py --clusters 100 [--reps 2] [--workers 50]

The plain client replays, per node, the RPCs (names and arguments) the lab's audit shows
the first `status` run sent to that node.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from common import ROOT, Measured, run_measured

from simulator.testing import LabProcess, private_config, start_lab

EOM = b"]]>]]>"
HELLO = (
    b'<hello xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><capabilities>'
    b"<capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>" + EOM
)
AT_ONCE = 100


def request(rpc: str, args: dict[str, Any]) -> str:
    tags = {k: k.replace("_", "-") for k in args}
    inner = "".join(
        f"<{tags[k]}/>" if v is True else f"<{tags[k]}>{v}</{tags[k]}>"
        for k, v in args.items()
        if k != "command"
    )
    return f"<{rpc}>{inner}</{rpc}>"


async def _node(host: str, port: int, rpcs: list[str], login: dict[str, Any]) -> int:
    import asyncssh

    async with asyncssh.connect(host, port, **login) as conn:
        writer, reader, _ = await conn.open_session(subsystem="netconf", encoding=None)
        writer.write(HELLO)
        await reader.readuntil(EOM)
        for i, body in enumerate(rpcs, 1):
            writer.write(f'<rpc message-id="{i}">{body}</rpc>'.encode() + EOM)
            await reader.readuntil(EOM)
    return len(rpcs)


async def _plain(plan: dict[str, Any]) -> int:
    import asyncssh

    login = {
        "username": plan["username"],
        "password": plan["password"],
        "known_hosts": asyncssh.read_known_hosts(plan["known_hosts"]),
        "config": None,
        "client_keys": None,
        "agent_path": None,
        "gss_host": None,
    }
    gate = asyncio.Semaphore(AT_ONCE)

    async def one(node: dict[str, Any]) -> int:
        async with gate:
            return await _node(node["host"], node["port"], node["rpcs"], login)

    sent = await asyncio.gather(*(one(n) for n in plan["nodes"]))
    return sum(sent)


def plain_client(plan_file: Path) -> int:
    """The limit: every node's RPCs over asyncssh, nothing parsed, 100 sessions at once."""
    plan = json.loads(plan_file.read_text())
    sent = asyncio.run(_plain(plan))
    print(f"sent {sent} RPCs over {len(plan['nodes'])} sessions", file=sys.stderr)
    return 0


def write_plan(lab: LabProcess, since: float, path: Path) -> int:
    """The plain client's work: per node, the RPCs status sent it (from the lab's audit)."""
    import yaml

    hosts = yaml.safe_load((lab.inventory_dir / "hosts.yaml").read_text())
    defaults = yaml.safe_load((lab.inventory_dir / "defaults.yaml").read_text())
    per_node: dict[tuple[str, str], list[str]] = defaultdict(list)
    for rec in lab.audit():
        if rec["ts"] >= since and rec["rpc"]:
            per_node[(rec["cluster"], rec["node"])].append(request(rec["rpc"], rec["args"]))
    nodes = [
        {"host": opts["hostname"], "port": opts["port"], "rpcs": per_node[(name, node)]}
        for name, host in hosts.items()
        for node, opts in host["connection_options"].items()
    ]
    path.write_text(
        json.dumps(
            {
                "username": defaults["username"],
                "password": defaults["password"],
                "known_hosts": str(lab.known_hosts),
                "nodes": nodes,
            }
        )
    )
    return sum(len(n["rpcs"]) for n in nodes)


def status_cmd(work: Path, lab: LabProcess, transport: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "runbooks",
        "status",
        "--config",
        str(private_config(work)),
        "--inventory",
        str(lab.inventory_dir),
        "--workers",
        str(workers),
        "--transport",
        transport,
        "--report",
        str(work / f"status-{transport}.json"),
    ]


def _healthy(work: Path, transport: str) -> int:
    report = json.loads((work / f"status-{transport}.json").read_text())
    return sum(1 for c in report["clusters"].values() if c.get("outcome") == "ok")


def measure(args: argparse.Namespace, work: Path, lab: LabProcess) -> dict[str, list[Measured]]:
    """Interleaved repetitions of the three tools; the plan of the plain client is what the
    first napalm status sent."""
    results: dict[str, list[Measured]] = defaultdict(list)
    plan, rpcs = work / "plain.json", 0
    for rep in range(args.reps):
        for transport in ("napalm", "asyncssh"):
            since = time.time() - 0.5
            run = run_measured(status_cmd(work, lab, transport, args.workers), cwd=work)
            ok = _healthy(work, transport)
            if run.code != 0 or ok != args.clusters:
                print(f"! status over {transport}: exit {run.code}, {ok} ok\n{run.stderr[-2000:]}")
            results[f"status --transport {transport}"].append(run)
            if rep == 0 and transport == "napalm":
                time.sleep(1)  # the audit's last lines
                rpcs = write_plan(lab, since, plan)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--plain-client", str(plan)]
        run = run_measured(cmd, cwd=work)
        if run.code != 0:
            print(f"! plain client: exit {run.code}\n{run.stderr[-2000:]}")
        results[f"plain asyncssh NETCONF 1.0, {AT_ONCE} at once"].append(run)
    print(f"\n{rpcs} RPCs over {2 * args.clusters} sessions, host keys verified")
    return results


def show(clusters: int, results: dict[str, list[Measured]]) -> None:
    print(f"\nstatus of {clusters} clusters ({2 * clusters} nodes), one lab, interleaved\n")
    print("| tool | wall s | CPU s | peak RSS MiB |\n|---|---|---|---|")
    for tool, runs in results.items():
        wall = " / ".join(f"{r.wall:.1f}" for r in runs)
        cpu = " / ".join(f"{r.cpu:.1f}" for r in runs)
        rss = " / ".join(f"{r.peak_rss_mib:.0f}" for r in runs)
        print(f"| {tool} | {wall} | {cpu} | {rss} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clusters", type=int, default=100)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--workers", type=int, default=50)
    ap.add_argument("--plain-client", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plain_client is not None:
        return plain_client(args.plain_client)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with start_lab(None, work / "lab", clusters=args.clusters, speed=1) as lab:
            results = measure(args, work, lab)
    show(args.clusters, results)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
