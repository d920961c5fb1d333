"""Independent PyEZ walkthrough of the SRX chassis-cluster simulator (the machinery).

Raw PyEZ (jnpr.junos.Device, dev.rpc.*, dev.cli), lxml, yaml and the stdlib only: nothing
from the project's tasks/ or runbooks/, and no parser of theirs -- every reply is parsed here,
from the documents, so that the simulator is checked by code that does not share its
assumptions.  It starts its own lab (python -m simulator ...) in a directory of its own,
connects with host-key verification ON, and observes every state by polling:

  hostkey  the lab's known_hosts is accepted, a wrong key for the port is rejected;
  A        healthy cluster walk-a: full ICU, followed phase by phase to a consistent, healthy
           end state;
  B        healthy cluster walk-b: ICU, abort while the secondary's install is pending, back
           to the old release with nothing pending;
  C        inconsistent cluster walk-c: abort -> rollback node <id> -> reboot on the RG0
           secondary, then wait for it to rejoin on the primary's release;
  audit    the lab's audit log against the state-changing RPCs that were sent.

Each part records named checks (CHECK_NAMES lists every name a part records on its normal
path; the names are fixed so that pytest can collect one test per check before anything ran).
The scenarios use different clusters and run concurrently, each in a thread of its own.

Used by tests/fidelity/walkthrough/ (one test per check) and by scripts/pyez_walkthrough.py
(`main`: the command line, exit 0 only when every check held).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jnpr.junos import Device
from jnpr.junos.exception import (
    ConnectClosedError,
    ConnectError,
    RpcError,
    RpcTimeoutError,
)
from lxml import etree

REPO = Path(__file__).resolve().parents[3]
SPEED = 200.0  # simulated seconds per real second
INTERVAL = 0.02  # real seconds between polls
TICK = 0.01  # ncclient session TICK (its default 0.1 makes each RPC >= 100 ms)
PART_DEADLINE = 240.0  # real seconds a part may run before it is reported as hung
STATE_RPCS = (
    "request-package-in-service-upgrade",
    "abort-in-service-upgrade",
    "request-package-rollback",
    "request-reboot",
)
CLI_ABORT = "request system software abort in-service-upgrade"
NODES = ("node0", "node1")
CLUSTERS: list[dict[str, Any]] = [
    {"name": "walk-a", "state": "healthy"},
    {"name": "walk-b", "state": "healthy"},
    {"name": "walk-c", "state": "inconsistent"},
]
SCENARIO_CLUSTER = {"A": "walk-a", "B": "walk-b", "C": "walk-c"}
HOSTKEY_CLUSTER = "walk-a"
PARTS = ("hostkey", "A", "B", "C", "audit")


def ran(part: str) -> str:
    return f"{part}: ran to the end without an exception"


def before_name(a: str, b: str) -> str:
    return f"A: '{a}' observed before '{b}'"


def audit_names(cluster: str) -> list[str]:
    return [
        f"audit: {cluster} RPCs/nodes/args match what the script sent",
        f"audit: {cluster} results match what the client saw",
    ]


# Phase names of scenario A, in the order they must be observed.
PH_S_PENDING = "secondary install pending"
PH_P_PENDING = "primary install pending"
PH_S_LOST = "secondary reboot: secondary lost"
PH_S_BOOTED = "secondary reboot: secondary boot time changed"
PH_S_REJOINED = "secondary rejoined"
PH_P_LOST = "primary reboot: primary lost"
PH_P_BOOTED = "primary reboot: primary boot time changed"
PH_END = "end state (both on target, nothing pending, healthy)"
A_ORDER: list[tuple[str, str, bool]] = [  # (a, b, strictly before)
    (PH_S_PENDING, PH_P_PENDING, True),
    (PH_P_PENDING, PH_S_BOOTED, True),
    (PH_S_LOST, PH_S_BOOTED, True),
    (PH_S_BOOTED, PH_P_LOST, False),
    (PH_P_LOST, PH_P_BOOTED, False),
    (PH_P_BOOTED, PH_END, True),
]
A_SEEN_BACK = "A: secondary seen back (hold/secondary-hold/secondary) before the primary went down"

# Every check each part records when it runs to its end, in the order it records them.
CHECK_NAMES: dict[str, list[str]] = {
    "hostkey": [
        "hostkey: connect with the lab's known_hosts",
        "hostkey: a wrong host key is rejected",
        ran("hostkey"),
    ],
    "A": [
        "A: both nodes reachable at start",
        "A: healthy at start",
        "A: both nodes on the same (old) release",
        "A: ICU RPC treated as started (no refusal)",
        "A: ICU session ended by the primary's reboot (dropped/closed)",
        *[before_name(a, b) for a, b, _ in A_ORDER[:3]],
        A_SEEN_BACK,
        *[before_name(a, b) for a, b, _ in A_ORDER[3:]],
        "A: end state reached within the deadline",
        "A: both nodes run the target release",
        "A: nothing pending",
        "A: each RG has one primary and one secondary, no failures",
        "A: both boot times changed",
        ran("A"),
    ],
    "B": [
        "B: both nodes reachable at start",
        "B: healthy at start",
        "B: install pending on the secondary observed",
        "B: abort answered without error",
        "B: right after the abort reply an install is still pending "
        "(abort waits for the current operation)",
        "B: abort landed within the deadline",
        "B: abort landed some time after it was sent",
        "B: no reboot and nothing pending after the abort landed",
        "B: healthy after abort",
        "B: both nodes on the OLD release",
        "B: nothing pending",
        "B: cluster healthy",
        "B: boot times unchanged",
        ran("B"),
    ],
    "C": [
        "C: both nodes reachable at start",
        "C: an RG0 primary exists",
        "C: releases differ",
        "C1: abort on the secondary answered without error",
        "C2: rollback node <id> names the primary's release",
        "C2: secondary still up, release unchanged before the reboot",
        "C3: request-reboot not refused",
        "C3: reboot proven by a changed boot time",
        "C3: secondary seen down/lost during the reboot",
        "C: consistent and healthy after recovery",
        "C: both nodes on the primary's release",
        "C: cluster healthy, nothing pending",
        "C: primary not rebooted",
        "C: RG0 primary unchanged",
        ran("C"),
    ],
    "audit": [
        *[n for c in SCENARIO_CLUSTER.values() for n in audit_names(c)],
        ran("audit"),
    ],
}
PART_OF = {name: part for part, names in CHECK_NAMES.items() for name in names}


# --------------------------------------------------------------------------- log and checks
class Log:
    """Timestamped lines of one part; echoed at once when `echo` (the command line)."""

    def __init__(self, prefix: str, t0: float, echo: bool = False) -> None:
        self.prefix, self.t0, self.echo = prefix, t0, echo
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, msg: str) -> None:
        line = f"[+{time.monotonic() - self.t0:7.3f}s] {self.prefix}{msg}"
        with self._lock:
            self.lines.append(line)
        if self.echo:
            print(line, flush=True)

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class Checks:
    """The checks one part recorded, in order; none are taken once the part is frozen."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self._items: list[Check] = []
        self._lock = threading.Lock()
        self._frozen = False

    def check(self, name: str, ok: Any, detail: str = "") -> bool:
        c = Check(name, bool(ok), detail)
        with self._lock:
            late = self._frozen
            if not late:
                self._items.append(c)
        self.log(
            f"CHECK {'ok  ' if c.ok else 'FAIL'} {name}"
            + (f" -- {detail}" if detail else "")
            + (" (too late: after the part was given up)" if late else "")
        )
        return c.ok

    def freeze(self) -> None:
        with self._lock:
            self._frozen = True

    @property
    def items(self) -> list[Check]:
        with self._lock:
            return list(self._items)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.items if not c.ok]


@dataclass
class Part:
    """What one part (hostkey, A, B, C, audit) observed."""

    key: str
    log: Log
    checks: Checks
    seconds: float = 0.0

    def records(self, name: str) -> list[Check]:
        return [c for c in self.checks.items if c.name == name]

    def why_missing(self, name: str) -> str:
        """Why `name` was not recorded: the part stopped early, and here is where."""
        failed = self.checks.failed
        lines = [f"{self.key}: check not reached -- the part stopped before recording it."]
        if failed:
            lines.append("Checks that failed in this part:")
            lines += [f"  {c.name} -- {c.detail}" for c in failed]
        else:
            lines.append("No check of this part failed; it ended without recording this one.")
        return "\n".join(lines)


# --------------------------------------------------------------------------- lab
class Lab:
    """The simulator as a subprocess (OS-picked ports); always stopped with SIGTERM."""

    def __init__(
        self, workdir: Path, speed: float, clusters: list[dict[str, Any]], log: Log
    ) -> None:
        self.dir = workdir
        self.log = log
        self.inv = workdir / "inv"
        self.inv.mkdir(parents=True, exist_ok=True)
        self.audit = self.inv / "audit.jsonl"
        self.speed = speed
        self.labfile = workdir / "lab.yaml"
        self.labfile.write_text(
            yaml.safe_dump({"speed": speed, "icu_reply": "silent", "clusters": clusters})
        )
        self.proc: subprocess.Popen[str] | None = None
        self.stdout_lines: list[str] = []
        self._stderr: Any = None

    def start(self, timeout: float = 30.0) -> None:
        cmd = [
            sys.executable,
            "-m",
            "simulator",
            "--lab",
            str(self.labfile),
            "--speed",
            str(self.speed),
            "--inventory-dir",
            str(self.inv),
            "--audit",
            str(self.audit),
        ]
        self.log("starting lab: " + " ".join(cmd))
        self._stderr = open(self.dir / "sim.stderr", "w")  # noqa: SIM115  (for the lab's life)
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def reader() -> None:  # drains stdout for the lab's whole life
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.stdout_lines.append(line.rstrip("\n"))
                if line.startswith("ready"):
                    ready.set()

        threading.Thread(target=reader, daemon=True, name="walkthrough-lab-stdout").start()
        deadline = time.monotonic() + timeout
        while not ready.is_set():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"simulator exited rc={self.proc.returncode}: "
                    + (self.dir / "sim.stderr").read_text()[-2000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"simulator did not print 'ready' within {timeout:g} s")
            ready.wait(0.05)
        self.log("lab " + next(x for x in self.stdout_lines if x.startswith("ready")))
        self.hosts = yaml.safe_load((self.inv / "hosts.yaml").read_text())
        self.groups = yaml.safe_load((self.inv / "groups.yaml").read_text())
        self.defaults = yaml.safe_load((self.inv / "defaults.yaml").read_text())
        self.known_hosts = self.inv / "known_hosts"
        self.ssh_config = self.dir / "ssh_config"
        self.ssh_config.write_text(
            f"Host *\n  UserKnownHostsFile {self.known_hosts}\n  StrictHostKeyChecking yes\n"
        )
        self.timing = self.defaults["data"]["timing"]

    def stop(self) -> None:
        try:
            if self.proc is None or self.proc.poll() is not None:
                return
            self.log(f"stopping lab (SIGTERM pid {self.proc.pid})")
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.log("lab ignored SIGTERM for 10 s; SIGKILL")
                self.proc.kill()
                self.proc.wait(5)
            self.log(f"lab exited rc={self.proc.returncode}")
        finally:
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None


# --------------------------------------------------------------------------- PyEZ helpers
def reply_root(r: Any) -> Any:
    """PyEZ returns the reply's first child; climb to the whole reply to search it."""
    if isinstance(r, etree._Element):
        p = r.getparent()
        return p if p is not None else r
    return r


def xtext(r: Any) -> str:
    if isinstance(r, etree._Element):
        return " ".join(t.strip() for t in reply_root(r).itertext() if t.strip())
    return str(r)


def first(root: Any, path: str) -> str | None:
    if not isinstance(root, etree._Element):
        return None
    hits = root.xpath(path)
    if not isinstance(hits, list) or not hits:
        return None
    h = hits[0]
    return (h.text or "").strip() if isinstance(h, etree._Element) else str(h).strip()


def per_node_items(r: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    root = reply_root(r)
    if not isinstance(root, etree._Element):
        return out
    for item in root.iter("multi-routing-engine-item"):
        name = first(item, "re-name")
        if name:
            out[name] = item
    return out


def parse_release(item: Any) -> str | None:
    v = first(item, ".//junos-version")
    if v:
        return v
    c = first(item, ".//package-information[name='junos']/comment")
    m = re.search(r"\[([^\]]+)\]", c or "")
    return m.group(1) if m else None


def parse_seconds(el: Any) -> int | None:
    if el is None:
        return None
    for k, v in el.attrib.items():
        if k.endswith("seconds"):
            try:
                return int(v)
            except ValueError:
                return None
    return None


def parse_boot(item: Any) -> int | None:
    hits = item.xpath(".//system-booted-time/date-time")
    return parse_seconds(hits[0]) if hits else None


def parse_now(item: Any) -> int | None:
    hits = item.xpath(".//current-time/date-time")
    return parse_seconds(hits[0]) if hits else None


def parse_cluster_status(r: Any) -> dict[int, dict[str, dict[str, str]]]:
    """{rg: {node: {status, priority, failures, failover_mode}}} from the flat device-stats."""
    out: dict[int, dict[str, dict[str, str]]] = {}
    root = reply_root(r)
    for rg in root.iter("redundancy-group"):
        rgid = first(rg, "redundancy-group-id")
        stats = rg.find("device-stats")
        if rgid is None or stats is None:
            continue
        nodes: dict[str, dict[str, str]] = {}
        cur: dict[str, str] | None = None
        for el in stats:
            tag, val = el.tag, (el.text or "").strip()
            if tag == "device-name":
                cur = {}
                nodes[val] = cur
            elif cur is not None:
                cur[tag] = val
        out[int(rgid)] = nodes
    return out


class Conn:
    """One PyEZ session to one node, reopened on demand."""

    def __init__(self, lab: Lab, cluster: str, node: str, purpose: str = "poll") -> None:
        self.lab, self.cluster, self.node, self.purpose = lab, cluster, node, purpose
        self.port = int(lab.hosts[cluster]["connection_options"][node]["port"])
        self.dev: Device | None = None
        self.last_error = ""

    def make(self, ssh_config: Path | None = None) -> Device:
        t = self.lab.timing
        return Device(
            host="127.0.0.1",
            port=self.port,
            user=self.lab.defaults["username"],
            passwd=self.lab.defaults["password"],
            ssh_config=str(ssh_config or self.lab.ssh_config),
            hostkey_verify=True,
            look_for_keys=False,
            allow_agent=False,
            gather_facts=False,
            conn_open_timeout=max(5, int(t.get("connect_timeout", 5))),
        )

    def get(self) -> Device | None:
        if self.dev is not None and self.dev.connected:
            return self.dev
        self.dev = None
        dev = self.make()
        try:
            dev.open()
        except (ConnectError, Exception) as e:  # refused / timeout / closed mid-hello
            self.last_error = f"{type(e).__name__}"
            return None
        dev.timeout = int(self.lab.timing.get("rpc_timeout", 10))
        self.dev = dev
        return dev

    def drop(self) -> None:
        dev, self.dev = self.dev, None
        if dev is not None:
            with contextlib.suppress(Exception):
                dev.close()

    def call(self, fn: Callable[[Device], Any]) -> Any:
        """Run fn(dev); None when the node is unreachable or the session dies."""
        dev = self.get()
        if dev is None:
            return None
        try:
            return fn(dev)
        except (ConnectClosedError, RpcTimeoutError) as e:
            self.last_error = type(e).__name__
            self.drop()
            return None
        except RpcError as e:
            self.last_error = f"RpcError {e}"
            return None


def _quiet_close(dev: Device) -> None:
    with contextlib.suppress(Exception):
        dev.close()


def close_in_background(dev: Device | None) -> None:
    """close() on a dead/rebooting session may itself hang: never wait for it."""
    if dev is not None:
        threading.Thread(target=_quiet_close, args=(dev,), daemon=True).start()


# --------------------------------------------------------------------------- snapshots
@dataclass
class Snap:
    t: float
    sim: int | None
    up: dict[str, bool]
    release: dict[str, str | None]
    boot: dict[str, int | None]
    pending: dict[str, bool | None]
    views: dict[str, dict[int, dict[str, dict[str, str]]]]  # status as seen from each node

    @property
    def rg(self) -> dict[int, dict[str, dict[str, str]]]:
        """The view of the node that calls itself RG0 primary, else any view."""
        for n, v in self.views.items():
            if v.get(0, {}).get(n, {}).get("redundancy-group-status") == "primary":
                return v
        for v in self.views.values():
            if v:
                return v
        return {}

    def status(self, rg: int, node: str) -> str | None:
        return self.rg.get(rg, {}).get(node, {}).get("redundancy-group-status")

    def rg0_primary(self) -> str | None:
        for n in NODES:
            if self.status(0, n) == "primary":
                return n
        return None

    def healthy(self) -> tuple[bool, str]:
        if not all(self.up.values()):
            return False, "a node is unreachable"
        v0, v1 = self.views.get("node0"), self.views.get("node1")
        if v0 != v1:
            return False, "the nodes' views of the cluster differ"
        if not self.rg or set(self.rg) != {0, 1}:
            return False, f"redundancy groups {sorted(self.rg)}"
        for rgid, nodes in sorted(self.rg.items()):
            sts = sorted(nodes.get(n, {}).get("redundancy-group-status", "?") for n in NODES)
            if sts != ["primary", "secondary"]:
                return False, f"RG{rgid} statuses {sts}"
            for n in NODES:
                d = nodes.get(n, {})
                if d.get("device-priority") in (None, "0", "255"):
                    return False, f"RG{rgid} {n} priority {d.get('device-priority')}"
                if d.get("monitor-failures", "None") != "None":
                    return False, f"RG{rgid} {n} monitor failures {d.get('monitor-failures')}"
                if d.get("failover-mode", "no") != "no":
                    return False, f"RG{rgid} {n} failover-mode {d.get('failover-mode')}"
        return True, "healthy"

    def summary(self) -> str:
        parts = []
        for n in NODES:
            if not self.up[n]:
                parts.append(f"{n}[unreachable]")
                continue
            p = {True: "PENDING", False: "-", None: "?"}[self.pending[n]]
            parts.append(f"{n}[{self.release[n]} pend={p} boot={self.boot[n]}]")
        rgs = []
        for rgid, nodes in sorted(self.rg.items()):
            s = " ".join(
                f"{n}={d.get('redundancy-group-status')}/{d.get('device-priority')}"
                + (
                    ""
                    if d.get("monitor-failures", "None") == "None"
                    else f"/{d.get('monitor-failures')}"
                )
                for n, d in sorted(nodes.items())
            )
            rgs.append(f"RG{rgid}({s})")
        views = {n: v for n, v in self.views.items() if v}
        if len(views) == 2 and views["node0"] != views["node1"]:
            rgs.append("(views differ)")
        return " ".join(parts) + " | " + " ".join(rgs)


class Cluster:
    def __init__(self, lab: Lab, name: str, log: Log) -> None:
        self.lab, self.name, self.log = lab, name, log
        self.conns = {n: Conn(lab, name, n) for n in NODES}
        self.history: list[Snap] = []
        self._last_summary = ""
        g = lab.hosts[name]["groups"][0]
        self.gdata = lab.groups[g]["data"]
        # what the script sent, in order, with the outcome as the client saw it
        self.sent: list[dict[str, Any]] = []
        self.icus: list[dict[str, Any]] = []
        self.snap_seconds: list[float] = []  # how long each snapshot took (real seconds)

    def snapshot(self) -> Snap:
        t_start = time.monotonic()
        up: dict[str, bool] = {}
        release: dict[str, str | None] = {}
        boot: dict[str, int | None] = {}
        pending: dict[str, bool | None] = {}
        views: dict[str, dict[int, dict[str, dict[str, str]]]] = {}
        sim = None
        peer_items: dict[str, dict[str, Any]] = {}
        for n in NODES:
            c = self.conns[n]
            st = c.call(lambda d: d.rpc.get_chassis_cluster_status())
            sw = c.call(lambda d: d.rpc.get_software_information()) if st is not None else None
            ut = c.call(lambda d: d.rpc.get_system_uptime_information()) if sw is not None else None
            pc = (
                c.call(lambda d: d.rpc.request_package_checks_pending_install())
                if ut is not None
                else None
            )
            up[n] = pc is not None
            # a view from a session that died mid-poll is older than the rest: drop it
            views[n] = parse_cluster_status(st) if st is not None and pc is not None else {}
            swi, uti = per_node_items(sw), per_node_items(ut)
            peer_items[n] = {"sw": swi, "ut": uti}
            release[n] = parse_release(swi[n]) if n in swi else None
            boot[n] = parse_boot(uti[n]) if n in uti else None
            if n in uti and sim is None:
                sim = parse_now(uti[n])
            if pc is None:
                pending[n] = None
            else:
                res = first(reply_root(pc), "descendant-or-self::package-result")
                pending[n] = res is not None and res != "0"
        # a node whose own session is gone: take its release/boot from the peer's reply
        for n in NODES:
            for peer in NODES:
                if release[n] is None and n in peer_items[peer]["sw"]:
                    release[n] = parse_release(peer_items[peer]["sw"][n])
                if boot[n] is None and n in peer_items[peer]["ut"]:
                    boot[n] = parse_boot(peer_items[peer]["ut"][n])
        s = Snap(time.monotonic(), sim, up, release, boot, pending, views)
        self.snap_seconds.append(s.t - t_start)
        self.history.append(s)
        summ = s.summary()
        if summ != self._last_summary:
            self.log(f"{self.name} sim={sim} {summ}")
            self._last_summary = summ
        return s

    def wait(
        self, what: str, cond: Callable[[Snap], bool], timeout: float, interval: float
    ) -> Snap | None:
        deadline = time.monotonic() + timeout
        while True:
            s = self.snapshot()
            if cond(s):
                return s
            if time.monotonic() > deadline:
                self.log(f"{self.name}: TIMEOUT after {timeout:.1f}s waiting for {what}")
                return None
            time.sleep(interval)

    def close(self) -> None:
        for c in self.conns.values():
            c.drop()

    def snap_stats(self) -> str:
        s = sorted(self.snap_seconds)
        if not s:
            return "no snapshots"
        return (
            f"{len(s)} snapshots, median {s[len(s) // 2] * 1000:.0f} ms, "
            f"p95 {s[int(len(s) * 0.95)] * 1000:.0f} ms, max {s[-1] * 1000:.0f} ms"
        )

    # ---------------- state-changing RPCs, each on a session of its own
    def start_icu(self, node: str) -> dict[str, Any]:
        """ICU on its own session in a thread; the reply may never come."""
        pkg = self.gdata["package"]
        conn = Conn(self.lab, self.name, node, "icu")
        dev = conn.get()
        result: dict[str, Any] = {"done": threading.Event(), "outcome": None, "reply": None}
        self.icus.append(result)
        if dev is None:
            result["outcome"] = f"connect failed: {conn.last_error}"
            result["done"].set()
            return result
        # long enough for the whole ICU; a dropped session ends it earlier
        dev.timeout = int(
            max(60, 6 * (self.lab.timing["install_deadline"] + self.lab.timing["reboot_deadline"]))
        )
        entry = {
            "node": node,
            "rpc": "request-package-in-service-upgrade",
            "args": {"package-name": pkg, "no-sync": True},
            "outcome": "pending",
        }
        self.sent.append(entry)
        log = self.log

        def run() -> None:
            try:
                r = dev.rpc.request_package_in_service_upgrade(package_name=pkg, no_sync=True)
                result["reply"] = xtext(r)
                log(f"{self.name}: ICU RPC reply: {result['reply']!r}")
                res = first(reply_root(r), "descendant-or-self::package-result")
                result["outcome"] = f"reply package-result={res}"
                result["package_result"] = res
                entry["outcome"] = "ok" if res in (None, "0") else "error"
            except ConnectClosedError:
                entry["outcome"] = "no-reply"
                result["outcome"] = "session closed (ConnectClosedError)"
            except RpcTimeoutError:
                entry["outcome"] = "no-reply"
                result["outcome"] = "no reply (RpcTimeoutError)"
            except RpcError as e:
                entry["outcome"] = "error"
                result["outcome"] = f"rpc-error: {e}"
                result["package_result"] = "rpc-error"
            except Exception as e:
                result["outcome"] = f"{type(e).__name__}: {e}"
            finally:
                result["done"].set()
                log(f"{self.name}: ICU RPC on {node} ended: {result['outcome']}")

        log(
            f"{self.name}: sending request-package-in-service-upgrade "
            f"package-name={pkg} no-sync to {node}"
        )
        th = threading.Thread(target=run, daemon=True, name=f"icu-{self.name}")
        th.start()
        result["thread"], result["conn"] = th, conn
        return result

    def one_shot(
        self,
        node: str,
        rpc: str,
        args: dict[str, Any],
        fn: Callable[[Device], Any],
        timeout: float | None = None,
    ) -> tuple[str, Any]:
        """A state-changing RPC on a fresh session: ('reply', r) | ('rpc-error', e) |
        ('closed'|'timeout'|'connect-failed', str)."""
        conn = Conn(self.lab, self.name, node, rpc)
        dev = conn.get()
        if dev is None:
            return "connect-failed", conn.last_error
        if timeout is not None:
            dev.timeout = int(max(1, timeout))
        entry = {"node": node, "rpc": rpc, "args": args, "outcome": "pending"}
        self.sent.append(entry)
        self.log(f"{self.name}: sending {rpc} {args or ''} to {node}")
        out: tuple[str, Any]
        try:
            r = fn(dev)
            out = ("reply", r)
        except ConnectClosedError as e:
            out = ("closed", str(e))
        except RpcTimeoutError as e:
            out = ("timeout", str(e))
        except RpcError as e:
            out = ("rpc-error", e)
        if out[0] == "reply":
            res = first(reply_root(out[1]), "descendant-or-self::package-result")
            entry["outcome"] = "ok" if res in (None, "0") else "error"
        else:
            entry["outcome"] = "error" if out[0] == "rpc-error" else "no-reply"
        if out[0] in ("closed", "timeout"):
            conn.dev = None
            close_in_background(dev)
        else:
            conn.drop()
        shown = xtext(out[1]) if out[0] == "reply" else str(out[1])
        self.log(f"{self.name}: {rpc} on {node} -> {out[0]}: {shown[:300]!r}")
        return out

    def finish(self, deadline: float) -> None:
        """Close the poll sessions; give the ICU RPCs until `deadline` to end (their outcome
        is what the audit is compared with), then close their sessions too."""
        self.close()
        for icu in self.icus:
            if not icu["done"].wait(max(0.0, deadline - time.monotonic())):
                self.log(f"{self.name}: ICU RPC still open at the end: {icu['outcome']}")
            conn = icu.get("conn")
            if conn is not None:
                dev, conn.dev = conn.dev, None
                close_in_background(dev)


def other(n: str) -> str:
    return "node1" if n == "node0" else "node0"


def node_id(n: str) -> str:
    return n.replace("node", "")


# --------------------------------------------------------------------------- scenarios
def hostkey_check(lab: Lab, cname: str, chk: Checks) -> None:
    """Verification must be really on: a wrong key for the port must be rejected."""
    good = Conn(lab, cname, "node0", "hostkey")
    dev = good.make()
    try:
        dev.open()
        ok = True
        dev.close()
    except Exception as e:
        ok = False
        good.last_error = repr(e)
    chk.check("hostkey: connect with the lab's known_hosts", ok, good.last_error)
    port0 = good.port
    port1 = int(lab.hosts[cname]["connection_options"]["node1"]["port"])
    lines = lab.known_hosts.read_text().splitlines()
    key1 = next(ln.split(None, 1)[1] for ln in lines if ln.startswith(f"[127.0.0.1]:{port1} "))
    bad_kh = lab.dir / "known_hosts.bad"
    bad_kh.write_text(f"[127.0.0.1]:{port0} {key1}\n")
    bad_cfg = lab.dir / "ssh_config.bad"
    bad_cfg.write_text(f"Host *\n  UserKnownHostsFile {bad_kh}\n")
    dev = good.make(ssh_config=bad_cfg)
    try:
        dev.open()
        dev.close()
        rejected, detail = False, "connected despite a wrong host key"
    except Exception as e:
        rejected, detail = True, f"{type(e).__name__} (PyEZ hides the host-key cause)"
    chk.check("hostkey: a wrong host key is rejected", rejected, detail)


def scenario_a(lab: Lab, cl: Cluster, interval: float, chk: Checks) -> None:
    log = cl.log
    log(f"===== Scenario A: full ICU on {cl.name}")
    tm = lab.timing
    target = cl.gdata["target_release"]
    s0 = cl.wait("both nodes up", lambda s: all(s.up.values()), tm["settle_deadline"] * 2, interval)
    if not chk.check("A: both nodes reachable at start", s0 is not None):
        return
    assert s0 is not None
    ok, why = s0.healthy()
    chk.check("A: healthy at start", ok, why)
    P = s0.rg0_primary() or "node0"
    S = other(P)
    old = s0.release[P]
    chk.check(
        "A: both nodes on the same (old) release",
        s0.release[P] == s0.release[S] != target,
        f"{s0.release}",
    )
    boot0 = dict(s0.boot)
    log(f"{cl.name}: RG0 primary {P}, secondary {S}, {old} -> {target}")
    icu = cl.start_icu(P)
    t_icu = time.monotonic()

    ev: dict[str, float] = {}
    s_states_after_boot: list[str] = []  # RG0 states of the secondary after its new boot,
    #                                      while the primary has not gone down yet

    def mark(name: str, s: Snap) -> None:
        if name not in ev:
            ev[name] = s.t
            log(f"{cl.name}: PHASE {name} (sim={s.sim})")

    def final(s: Snap) -> bool:
        return (
            s.release[P] == target
            and s.release[S] == target
            and s.pending[P] is False
            and s.pending[S] is False
            and s.healthy()[0]
        )

    def step(s: Snap) -> bool:
        p_booted = s.boot[P] is not None and s.boot[P] != boot0[P]
        s_booted = s.boot[S] is not None and s.boot[S] != boot0[S]
        p_down = (not s.up[P]) or s.status(0, P) == "lost"
        s_down = (not s.up[S]) or s.status(0, S) == "lost"
        if s.pending[S] and s.pending[P] is False:
            mark(PH_S_PENDING, s)
        if s.pending[P] and PH_S_PENDING in ev:
            mark(PH_P_PENDING, s)
        if PH_S_PENDING in ev and s_down and not p_booted and not s_booted:
            mark(PH_S_LOST, s)
        if s_booted:
            mark(PH_S_BOOTED, s)
            if s.up[S] and not p_down and not p_booted:
                st = s.status(0, S) or "?"
                if not s_states_after_boot or s_states_after_boot[-1] != st:
                    s_states_after_boot.append(st)
                if st in ("hold", "secondary-hold", "secondary"):
                    mark(PH_S_REJOINED, s)
        if s_booted and p_down:
            mark(PH_P_LOST, s)
        if p_booted:
            mark(PH_P_BOOTED, s)
        return final(s)

    total = 2 * (2 * tm["install_deadline"] + 2 * tm["reboot_deadline"] + tm["settle_deadline"])
    end = cl.wait("ICU end state", step, total, interval)
    end_detail = cl.history[-1].summary() if cl.history else ""
    if end is not None:
        mark(PH_END, end)
        # stay a while: the end state must hold (preempt may still move RG1)
        settle_until = time.monotonic() + max(1.0, 600 / lab.speed)
        last_bad = None
        while time.monotonic() < settle_until:
            s = cl.snapshot()
            if not final(s):
                last_bad = s
            time.sleep(interval)
        end = cl.wait("ICU end state (settled)", final, tm["settle_deadline"] * 2, interval)
        if last_bad is not None:
            log(f"{cl.name}: end state wavered after first reached: {last_bad.summary()}")
        end_detail = f"reached {ev[PH_END] - t_icu:.2f}s after the ICU was sent" + (
            "" if end is not None else "; but it did not hold: " + cl.history[-1].summary()
        )
    else:
        end_detail = f"not reached within {total:g}s: {end_detail}"
    icu["done"].wait(5)
    chk.check(
        "A: ICU RPC treated as started (no refusal)",
        icu.get("package_result") in (None, "0"),
        str(icu["outcome"]),
    )
    chk.check(
        "A: ICU session ended by the primary's reboot (dropped/closed)",
        icu["done"].is_set() and "closed" in str(icu["outcome"]),
        str(icu["outcome"]),
    )

    def at(name: str) -> str:
        return f"+{ev[name] - t_icu:.3f}s" if name in ev else "never"

    def before(a: str, b: str, strict: bool = True) -> None:
        ok = a in ev and b in ev and (ev[a] < ev[b] if strict else ev[a] <= ev[b])
        chk.check(
            before_name(a, b),
            ok,
            f"{a}={at(a)} {b}={at(b)} (after the ICU was sent)",
        )

    for a, b, strict in A_ORDER[:3]:
        before(a, b, strict)
    chk.check(
        A_SEEN_BACK,
        PH_S_REJOINED in ev,
        f"secondary's RG0 states seen after its boot, primary still up: "
        f"{s_states_after_boot or 'none'}",
    )
    for a, b, strict in A_ORDER[3:]:
        before(a, b, strict)
    chk.check("A: end state reached within the deadline", end is not None, end_detail)
    if end is not None:
        chk.check(
            "A: both nodes run the target release",
            set(end.release.values()) == {target},
            str(end.release),
        )
        chk.check(
            "A: nothing pending",
            end.pending[P] is False and end.pending[S] is False,
            str(end.pending),
        )
        ok, why = end.healthy()
        chk.check(
            "A: each RG has one primary and one secondary, no failures",
            ok,
            why + " " + end.summary(),
        )
        chk.check(
            "A: both boot times changed",
            all(end.boot[n] != boot0[n] for n in NODES),
            f"{boot0} -> {end.boot}",
        )


def scenario_b(lab: Lab, cl: Cluster, interval: float, chk: Checks) -> None:
    log = cl.log
    log(f"===== Scenario B: ICU then abort on {cl.name}")
    tm = lab.timing
    s0 = cl.wait("both nodes up", lambda s: all(s.up.values()), tm["settle_deadline"] * 2, interval)
    if not chk.check("B: both nodes reachable at start", s0 is not None):
        return
    assert s0 is not None
    ok, why = s0.healthy()
    chk.check("B: healthy at start", ok, why)
    P = s0.rg0_primary() or "node0"
    S = other(P)
    old = s0.release[P]
    boot0 = dict(s0.boot)
    icu = cl.start_icu(P)
    sp = cl.wait(
        "install pending on the secondary",
        lambda s: bool(s.pending[S]),
        tm["install_deadline"] * 3,
        interval,
    )
    if not chk.check(
        "B: install pending on the secondary observed",
        sp is not None,
        "" if sp is not None else cl.history[-1].summary(),
    ):
        return
    assert sp is not None
    log(f"{cl.name}: secondary pending at sim={sp.sim}; primary pending={sp.pending[P]}")
    kind, r = cl.one_shot(
        P, "abort-in-service-upgrade", {}, lambda d: d.rpc.abort_in_service_upgrade()
    )
    t_abort = time.monotonic()
    chk.check(
        "B: abort answered without error",
        kind == "reply" and "error" not in xtext(r).lower(),
        f"{kind}: {xtext(r) if kind == 'reply' else r}",
    )
    # the abort must not land at once: the running operation (install) finishes first
    s1 = cl.snapshot()
    still = bool(s1.pending[S] or s1.pending[P])
    after: list[Snap] = [s1]

    def landed(s: Snap) -> bool:
        after.append(s)
        return s.pending[P] is False and s.pending[S] is False

    sl = cl.wait("abort landed (nothing pending)", landed, tm["abort_deadline"] * 2, interval)
    chk.check(
        "B: right after the abort reply an install is still pending "
        "(abort waits for the current operation)",
        still,
        s1.summary(),
    )
    chk.check(
        "B: abort landed within the deadline",
        sl is not None,
        f"{sl.t - t_abort:.2f}s after the abort reply"
        if sl is not None
        else f"not within {tm['abort_deadline'] * 2:g}s: {cl.history[-1].summary()}",
    )
    if sl is None:
        return
    pri_pending_seen = any(s.pending[P] for s in after)
    log(
        f"{cl.name}: abort landed {sl.t - t_abort:.2f}s real after the reply "
        f"(sim {sp.sim} -> {sl.sim}); primary install pending seen after abort: {pri_pending_seen}"
    )
    chk.check(
        "B: abort landed some time after it was sent",
        sl.t > t_abort and len(after) > 1,
        f"{sl.t - t_abort:.3f}s, {len(after)} polls",
    )
    # stay and make sure the ICU does not carry on (no failover, no reboot)
    quiet_until = time.monotonic() + max(1.5, 1200 / lab.speed)
    wobble = None
    while time.monotonic() < quiet_until:
        s = cl.snapshot()
        if s.boot != boot0 or s.pending[P] or s.pending[S]:
            wobble = s
        time.sleep(interval)
    end = cl.wait(
        "healthy after abort", lambda s: s.healthy()[0], tm["settle_deadline"] * 2, interval
    )
    chk.check(
        "B: no reboot and nothing pending after the abort landed",
        wobble is None,
        wobble.summary() if wobble else "",
    )
    if not chk.check(
        "B: healthy after abort",
        end is not None,
        end.summary() if end is not None else cl.history[-1].summary(),
    ):
        return
    assert end is not None
    chk.check(
        "B: both nodes on the OLD release",
        end.release[P] == end.release[S] == old,
        str(end.release),
    )
    chk.check(
        "B: nothing pending", end.pending[P] is False and end.pending[S] is False, str(end.pending)
    )
    ok, why = end.healthy()
    chk.check("B: cluster healthy", ok, why + " " + end.summary())
    chk.check("B: boot times unchanged", end.boot == boot0, f"{boot0} -> {end.boot}")
    log(
        f"{cl.name}: ICU RPC outcome: {icu['outcome'] or 'still waiting (silent)'}"
        + (f"; reply text: {icu['reply']!r}" if icu.get("reply") else "")
    )


def scenario_c(lab: Lab, cl: Cluster, interval: float, chk: Checks) -> None:
    log = cl.log
    log(f"===== Scenario C: recovery of inconsistent {cl.name}")
    tm = lab.timing
    s0 = cl.wait("both nodes up", lambda s: all(s.up.values()), tm["settle_deadline"] * 2, interval)
    if not chk.check("C: both nodes reachable at start", s0 is not None):
        return
    assert s0 is not None
    P = s0.rg0_primary()
    if not chk.check("C: an RG0 primary exists", P is not None, s0.summary()):
        return
    assert P is not None
    S = other(P)
    chk.check("C: releases differ", s0.release[P] != s0.release[S], str(s0.release))
    prim_rel = s0.release[P]
    boot0 = dict(s0.boot)
    log(f"{cl.name}: RG0 primary {P} on {prim_rel}; secondary {S} on {s0.release[S]}")

    # 1. abort on the secondary
    kind, r = cl.one_shot(
        S, "abort-in-service-upgrade", {}, lambda d: d.rpc.abort_in_service_upgrade()
    )
    txt = xtext(r) if kind == "reply" else str(r)
    if not chk.check(
        "C1: abort on the secondary answered without error",
        kind == "reply" and "error" not in txt.lower(),
        f"{kind}: {txt}",
    ):
        return
    # 2. rollback node <id>
    nid = node_id(S)
    kind, r = cl.one_shot(
        S,
        "request-package-rollback",
        {"node": nid},
        lambda d: d.rpc.request_package_rollback(node=nid),
    )
    txt = xtext(r) if kind == "reply" else str(r)
    ok = (
        kind == "reply"
        and prim_rel is not None
        and prim_rel in txt
        and not re.search(r"error|cannot|abort", txt, re.I)
    )
    if not chk.check(
        "C2: rollback node <id> names the primary's release",
        ok,
        f"rollback node {nid}, primary's release {prim_rel}; {kind}: {txt}",
    ):
        return
    s1 = cl.snapshot()
    chk.check(
        "C2: secondary still up, release unchanged before the reboot",
        s1.up[S] and s1.release[S] == s0.release[S],
        s1.summary(),
    )
    # 3. reboot: reply expected to be lost or the session closed
    n_before_reboot = len(cl.history)
    kind, r = cl.one_shot(
        S,
        "request-reboot",
        {"node": nid},
        lambda d: d.rpc.request_reboot(node=nid),
        timeout=tm.get("icu_reply_timeout", 2) * 2,
    )
    log(f"{cl.name}: request-reboot outcome: {kind}")
    chk.check(
        "C3: request-reboot not refused",
        kind in ("closed", "timeout", "reply")
        and not (kind == "reply" and re.search(r"error", xtext(r), re.I)),
        f"{kind}: {xtext(r) if kind == 'reply' else r}",
    )
    sb = cl.wait(
        "secondary boot time changed",
        lambda s: s.boot[S] is not None and s.boot[S] != boot0[S],
        tm["reboot_deadline"] * 3,
        interval,
    )
    chk.check(
        "C3: reboot proven by a changed boot time",
        sb is not None,
        f"{boot0[S]} -> {sb.boot[S] if sb else '?'}",
    )
    # the snapshots taken from the reboot request until the boot time changed
    during = cl.history[n_before_reboot:]
    lost_seen = any((not s.up[S]) or s.status(0, S) == "lost" for s in during)
    chk.check(
        "C3: secondary seen down/lost during the reboot",
        lost_seen,
        f"{len(during)} snapshots after the reboot request",
    )

    def done(s: Snap) -> bool:
        return (
            s.release[P] == s.release[S] == prim_rel
            and s.pending[P] is False
            and s.pending[S] is False
            and s.healthy()[0]
        )

    deadline = tm["reboot_deadline"] * 3 + tm["settle_deadline"] * 2
    end = cl.wait("rejoined, consistent, healthy", done, deadline, interval)
    if not chk.check(
        "C: consistent and healthy after recovery",
        end is not None,
        end.summary()
        if end is not None
        else f"not within {deadline:g}s: " + cl.history[-1].summary(),
    ):
        return
    assert end is not None
    chk.check(
        "C: both nodes on the primary's release",
        end.release[P] == end.release[S] == prim_rel,
        f"primary's release {prim_rel}; {end.release}",
    )
    ok, _why = end.healthy()
    chk.check("C: cluster healthy, nothing pending", ok, end.summary())
    chk.check("C: primary not rebooted", end.boot[P] == boot0[P], f"{boot0[P]} -> {end.boot[P]}")
    chk.check("C: RG0 primary unchanged", end.rg0_primary() == P, str(end.rg0_primary()))


# --------------------------------------------------------------------------- audit
def read_audit(path: Path) -> list[dict[str, Any]]:
    """The audit log's complete lines (the lab is still running: a line it is writing this
    instant has no newline yet)."""
    text = path.read_text()
    lines = text.split("\n")[:-1]  # the part after the last newline is not complete
    return [json.loads(ln) for ln in lines if ln.strip()]


def audit_check(lab: Lab, clusters: list[Cluster], chk: Checks) -> None:
    log = chk.log
    log("===== Audit log")
    recs = read_audit(lab.audit)
    for cl in clusters:
        got: list[tuple[Any, Any, dict[str, Any], Any]] = []
        for r in recs:
            if r.get("cluster") != cl.name:
                continue
            rpc = r.get("rpc")
            args = dict(r.get("args") or {})
            if rpc == "command" and str(args.get("command", "")).strip() == CLI_ABORT:
                rpc, args = "abort-in-service-upgrade", {}
            if rpc == "late-reply":
                # lab-contract: an ICU that ends without the primary's reboot answers late
                i = max(i for i, g in enumerate(got) if g[1] == args.get("to"))
                node, icu_rpc, icu_args, _ = got[i]
                got[i] = (node, icu_rpc, icu_args, "ok" if args.get("ok") else "error")
            if rpc in STATE_RPCS:
                got.append((r.get("node"), rpc, args, r.get("result")))
        log(f"{cl.name}: state-changing RPCs in the audit log, in order:")
        for node, rpc, args, res in got:
            log(f"    {node:6} {rpc:36} {json.dumps(args, sort_keys=True):60} {res}")
        sent = [
            (
                e["node"],
                e["rpc"],
                {k: (str(v) if not isinstance(v, bool) else v) for k, v in e["args"].items()},
            )
            for e in cl.sent
        ]
        have = [(n, rpc, a) for n, rpc, a, _ in got]
        name_rpcs, name_results = audit_names(cl.name)
        chk.check(name_rpcs, have == sent, "" if have == sent else f"sent={sent} audit={have}")
        if have == sent:
            seen = [e["outcome"] for e in cl.sent]
            logged = [res for *_, res in got]
            diff = [
                f"{e['rpc']} on {e['node']}: client saw {o!r}, audit says {a!r}"
                for e, o, a in zip(cl.sent, seen, logged, strict=False)
                if o != a
            ]
            chk.check(name_results, not diff, "; ".join(diff))


# --------------------------------------------------------------------------- running
@contextlib.contextmanager
def ncclient_tick(tick: float | None) -> Iterator[None]:
    """ncclient polls its sessions every TICK seconds (0.1 by default, so each RPC takes at
    least that long); lower it for the run, and put it back afterwards."""
    import ncclient.transport.session as ncs

    old = ncs.TICK
    if tick:
        ncs.TICK = tick
    try:
        yield
    finally:
        ncs.TICK = old


def needed(parts: Iterable[str]) -> list[str]:
    """The parts to run so that every check of `parts` is recorded: the audit's checks
    name all three scenarios' clusters."""
    want = set(parts)
    unknown = want - set(PARTS)
    if unknown:
        raise ValueError(f"unknown part(s) {sorted(unknown)}; known: {PARTS}")
    if "audit" in want:
        want |= {"A", "B", "C"}
    return [p for p in PARTS if p in want]


SCENARIOS: dict[str, Callable[[Lab, Cluster, float, Checks], None]] = {
    "A": scenario_a,
    "B": scenario_b,
    "C": scenario_c,
}


def run_walkthrough(
    lab: Lab,
    parts: Iterable[str] = PARTS,
    *,
    interval: float = INTERVAL,
    tick: float | None = TICK,
    concurrent: bool = True,
    echo: bool = False,
    part_deadline: float = PART_DEADLINE,
) -> dict[str, Part]:
    """Run the parts against a started lab and return what each observed.

    hostkey, A, B and C each run in a thread of their own (at once when `concurrent`, one
    after the other otherwise); the audit runs last, once the scenarios have ended, over the
    clusters of the scenarios that ran (`needed` gives the parts for all its checks).  A part
    that has not ended within `part_deadline` real seconds is given up: its
    "ran to the end" check fails and nothing it records later is taken."""
    keys = [p for p in PARTS if p in set(parts)]
    t0 = time.monotonic()
    out: dict[str, Part] = {}
    for k in keys:
        log = Log(f"{k}: " if echo else "", t0, echo)
        out[k] = Part(k, log, Checks(log))
    clusters: dict[str, Cluster] = {}
    threads: dict[str, threading.Thread] = {}

    def body(key: str) -> None:
        part = out[key]
        start = time.monotonic()
        ok, detail = True, ""
        cl = clusters.get(key)
        try:
            if key == "hostkey":
                hostkey_check(lab, HOSTKEY_CLUSTER, part.checks)
            else:
                assert cl is not None
                SCENARIOS[key](lab, cl, interval, part.checks)
        except Exception as e:
            part.log(traceback.format_exc().rstrip())
            ok, detail = False, repr(e)
        finally:
            if cl is not None:
                cl.finish(time.monotonic() + 10)
                part.log(f"{cl.name}: {cl.snap_stats()}")
            part.seconds = time.monotonic() - start
        part.checks.check(ran(key), ok, detail or f"{part.seconds:.1f}s")

    def join(key: str, deadline: float) -> None:
        th = threads[key]
        th.join(max(0.0, deadline - time.monotonic()))
        if th.is_alive():
            part = out[key]
            part.checks.check(ran(key), False, f"still running after {part_deadline:g}s")
            part.checks.freeze()
            if key in clusters:
                clusters[key].close()

    with ncclient_tick(tick):
        for key in keys:
            if key == "audit":
                continue
            if key in SCENARIOS:
                clusters[key] = Cluster(lab, SCENARIO_CLUSTER[key], out[key].log)
            threads[key] = threading.Thread(target=body, args=(key,), name=f"walkthrough-{key}")
            threads[key].daemon = True
            threads[key].start()
            if not concurrent:
                join(key, time.monotonic() + part_deadline)
        deadline = time.monotonic() + part_deadline
        for key in threads:
            join(key, deadline)
    if "audit" in out:
        part = out["audit"]
        start = time.monotonic()
        try:
            audit_check(lab, [clusters[k] for k in ("A", "B", "C") if k in clusters], part.checks)
            ok, detail = True, ""
        except Exception as e:
            part.log(traceback.format_exc().rstrip())
            ok, detail = False, repr(e)
        part.seconds = time.monotonic() - start
        part.checks.check(ran("audit"), ok, detail)
    return out


# --------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="pyez_walkthrough.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--speed", type=float, default=SPEED)
    ap.add_argument("--interval", type=float, default=INTERVAL, help="real seconds between polls")
    ap.add_argument(
        "--tick",
        type=float,
        default=TICK,
        help="ncclient session TICK (default 0.1 makes each RPC >= 100 ms)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary lab directory")
    ap.add_argument("--scenarios", default="ABC", help="which scenarios to run (default ABC)")
    ap.add_argument("--serial", action="store_true", help="run the scenarios one after the other")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    t0 = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="pyez-walkthrough-"))
    lab_log = Log("", t0, echo=True)
    lab = Lab(work, args.speed, CLUSTERS, lab_log)
    wanted = ["hostkey", *[k for k in "ABC" if k in args.scenarios.upper()], "audit"]
    checks: list[Check] = []
    try:
        lab.start()
        res = run_walkthrough(
            lab,
            wanted,
            interval=args.interval,
            tick=args.tick,
            concurrent=not args.serial,
            echo=True,
        )
        for part in res.values():
            checks += part.checks.items
    except Exception as e:
        traceback.print_exc()
        checks.append(Check("lab started and scenarios ran", False, repr(e)))
    finally:
        lab.stop()
    failed = [c for c in checks if not c.ok]
    print(
        f"\n{len(checks) - len(failed)}/{len(checks)} checks held; "
        f"wall time {time.monotonic() - t0:.1f}s; lab dir {work}"
        f"{'' if args.keep else ' (removed)'}",
        flush=True,
    )
    for c in failed:
        print(f"  DIFFERED: {c.name}: {c.detail}", flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("RESULT: " + ("PASS" if checks and not failed else "FAIL"), flush=True)
    return 0 if checks and not failed else 1
