#!/usr/bin/env python
"""Independent PyEZ walkthrough of the SRX chassis-cluster simulator.

Standalone: raw PyEZ (jnpr.junos.Device, dev.rpc.*, dev.cli) only.  It starts its own lab
(python -m simulator ...) in a temporary directory, connects with host-key verification ON,
and runs three scenarios, observing every state by polling:

  A  healthy cluster: full ICU, followed phase by phase to a consistent, healthy end state;
  B  healthy cluster: ICU, abort while the secondary's install is pending, back to the old
     release with nothing pending;
  C  inconsistent cluster: abort -> rollback node <id> -> reboot on the RG0 secondary, then
     wait for it to rejoin on the primary's release.

Finally the audit log is checked against the state-changing RPCs the script sent.

Run:  .venv/bin/python scripts/pyez_walkthrough.py [--speed 200] [--keep]
Exit 0 only when every check held.
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
from collections.abc import Callable
from dataclasses import dataclass, field
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

REPO = Path(__file__).resolve().parent.parent
T0 = time.monotonic()
STATE_RPCS = (
    "request-package-in-service-upgrade",
    "abort-in-service-upgrade",
    "request-package-rollback",
    "request-reboot",
)
CLI_ABORT = "request system software abort in-service-upgrade"
NODES = ("node0", "node1")


def ts() -> str:
    return f"[+{time.monotonic() - T0:7.3f}s]"


def log(msg: str) -> None:
    print(f"{ts()} {msg}", flush=True)


# --------------------------------------------------------------------------- checks
@dataclass
class Checks:
    items: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.items.append((name, bool(ok), detail))
        log(f"CHECK {'ok  ' if ok else 'FAIL'} {name}" + (f" -- {detail}" if detail else ""))
        return bool(ok)

    @property
    def failed(self) -> list[tuple[str, bool, str]]:
        return [c for c in self.items if not c[1]]


CHECKS = Checks()


# --------------------------------------------------------------------------- lab
class Lab:
    """The simulator as a subprocess; always stopped with SIGTERM."""

    def __init__(self, workdir: Path, speed: float, clusters: list[dict[str, Any]]):
        self.dir = workdir
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
        log("starting lab: " + " ".join(cmd))
        self.stderr = open(self.dir / "sim.stderr", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def reader() -> None:
            assert self.proc and self.proc.stdout
            for line in self.proc.stdout:
                self.stdout_lines.append(line.rstrip("\n"))
                if line.startswith("ready"):
                    ready.set()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.is_set():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"simulator exited rc={self.proc.returncode}: "
                    + (self.dir / "sim.stderr").read_text()[-2000:]
                )
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not print 'ready' in time")
            ready.wait(0.05)
        log("lab " + next(x for x in self.stdout_lines if x.startswith("ready")))
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
        if self.proc is None or self.proc.poll() is not None:
            return
        log(f"stopping lab (SIGTERM pid {self.proc.pid})")
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            log("lab ignored SIGTERM for 10 s; SIGKILL")
            self.proc.kill()
            self.proc.wait(5)
        log(f"lab exited rc={self.proc.returncode}")


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
    if not hits:
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

    def __init__(self, lab: Lab, cluster: str, node: str, purpose: str = "poll"):
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
    def __init__(self, lab: Lab, name: str):
        self.lab, self.name = lab, name
        self.conns = {n: Conn(lab, name, n) for n in NODES}
        self.history: list[Snap] = []
        self._last_summary = ""
        g = lab.hosts[name]["groups"][0]
        self.gdata = lab.groups[g]["data"]
        # what the script sent, in order, with the outcome as the client saw it
        self.sent: list[dict[str, Any]] = []

    def snapshot(self) -> Snap:
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
        self.history.append(s)
        summ = s.summary()
        if summ != self._last_summary:
            log(f"{self.name} sim={sim} {summ}")
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
                log(f"{self.name}: TIMEOUT after {timeout:.1f}s waiting for {what}")
                return None
            time.sleep(interval)

    def close(self) -> None:
        for c in self.conns.values():
            c.drop()

    # ---------------- state-changing RPCs, each on a session of its own
    def start_icu(self, node: str) -> dict[str, Any]:
        """ICU on its own session in a thread; the reply may never come."""
        pkg = self.gdata["package"]
        conn = Conn(self.lab, self.name, node, "icu")
        dev = conn.get()
        result: dict[str, Any] = {"done": threading.Event(), "outcome": None, "reply": None}
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
        log(f"{self.name}: sending {rpc} {args or ''} to {node}")
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
            conn.dev = None  # close() on a dead/rebooting session may itself hang
            threading.Thread(target=lambda: _quiet_close(dev), daemon=True).start()
        else:
            conn.drop()
        shown = xtext(out[1]) if out[0] == "reply" else str(out[1])
        log(f"{self.name}: {rpc} on {node} -> {out[0]}: {shown[:300]!r}")
        return out


def _quiet_close(dev: Device) -> None:
    with contextlib.suppress(Exception):
        dev.close()


def other(n: str) -> str:
    return "node1" if n == "node0" else "node0"


def node_id(n: str) -> str:
    return n.replace("node", "")


# --------------------------------------------------------------------------- scenarios
def hostkey_check(lab: Lab, cname: str) -> None:
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
    CHECKS.check("hostkey: connect with the lab's known_hosts", ok, good.last_error)
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
    CHECKS.check("hostkey: a wrong host key is rejected", rejected, detail)


def scenario_a(lab: Lab, cl: Cluster, interval: float) -> None:
    log(f"===== Scenario A: full ICU on {cl.name}")
    tm = lab.timing
    target = cl.gdata["target_release"]
    s0 = cl.wait("both nodes up", lambda s: all(s.up.values()), tm["settle_deadline"] * 2, interval)
    if not CHECKS.check("A: both nodes reachable at start", s0 is not None):
        return
    assert s0 is not None
    ok, why = s0.healthy()
    CHECKS.check("A: healthy at start", ok, why)
    P = s0.rg0_primary() or "node0"
    S = other(P)
    old = s0.release[P]
    CHECKS.check(
        "A: both nodes on the same (old) release",
        s0.release[P] == s0.release[S] != target,
        f"{s0.release}",
    )
    boot0 = dict(s0.boot)
    log(f"{cl.name}: RG0 primary {P}, secondary {S}, {old} -> {target}")
    icu = cl.start_icu(P)

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
            mark("secondary install pending", s)
        if s.pending[P] and "secondary install pending" in ev:
            mark("primary install pending", s)
        if "secondary install pending" in ev and s_down and not p_booted and not s_booted:
            mark("secondary reboot: secondary lost", s)
        if s_booted:
            mark("secondary reboot: secondary boot time changed", s)
            if s.up[S] and not p_down and not p_booted:
                st = s.status(0, S) or "?"
                if not s_states_after_boot or s_states_after_boot[-1] != st:
                    s_states_after_boot.append(st)
                if st in ("hold", "secondary-hold", "secondary"):
                    mark("secondary rejoined", s)
        if s_booted and p_down:
            mark("primary reboot: primary lost", s)
        if p_booted:
            mark("primary reboot: primary boot time changed", s)
        return final(s)

    total = 2 * (2 * tm["install_deadline"] + 2 * tm["reboot_deadline"] + tm["settle_deadline"])
    end = cl.wait("ICU end state", step, total, interval)
    if end is not None:
        mark("end state (both on target, nothing pending, healthy)", end)
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
    icu["done"].wait(5)
    CHECKS.check(
        "A: ICU RPC treated as started (no refusal)",
        icu.get("package_result") in (None, "0"),
        str(icu["outcome"]),
    )
    CHECKS.check(
        "A: ICU session ended by the primary's reboot (dropped/closed)",
        icu["done"].is_set() and "closed" in str(icu["outcome"]),
        str(icu["outcome"]),
    )

    def before(a: str, b: str, strict: bool = True) -> None:
        ok = a in ev and b in ev and (ev[a] < ev[b] if strict else ev[a] <= ev[b])
        CHECKS.check(
            f"A: '{a}' observed before '{b}'",
            ok,
            f"{a}={ev.get(a, 'never')} {b}={ev.get(b, 'never')}",
        )

    before("secondary install pending", "primary install pending")
    before("primary install pending", "secondary reboot: secondary boot time changed")
    before("secondary reboot: secondary lost", "secondary reboot: secondary boot time changed")
    CHECKS.check(
        "A: secondary seen back (hold/secondary-hold/secondary) before the primary went down",
        "secondary rejoined" in ev,
        f"secondary's RG0 states seen after its boot, primary still up: "
        f"{s_states_after_boot or 'none'}",
    )
    before("secondary reboot: secondary boot time changed", "primary reboot: primary lost", False)
    before("primary reboot: primary lost", "primary reboot: primary boot time changed", False)
    before(
        "primary reboot: primary boot time changed",
        "end state (both on target, nothing pending, healthy)",
    )
    if end is not None:
        CHECKS.check(
            "A: both nodes run the target release",
            set(end.release.values()) == {target},
            str(end.release),
        )
        CHECKS.check(
            "A: nothing pending",
            end.pending[P] is False and end.pending[S] is False,
            str(end.pending),
        )
        ok, why = end.healthy()
        CHECKS.check(
            "A: each RG has one primary and one secondary, no failures",
            ok,
            why + " " + end.summary(),
        )
        CHECKS.check(
            "A: both boot times changed",
            all(end.boot[n] != boot0[n] for n in NODES),
            f"{boot0} -> {end.boot}",
        )
    else:
        CHECKS.check(
            "A: end state reached within the deadline",
            False,
            cl.history[-1].summary() if cl.history else "",
        )


def scenario_b(lab: Lab, cl: Cluster, interval: float) -> None:
    log(f"===== Scenario B: ICU then abort on {cl.name}")
    tm = lab.timing
    target = cl.gdata["target_release"]
    s0 = cl.wait("both nodes up", lambda s: all(s.up.values()), tm["settle_deadline"] * 2, interval)
    if not CHECKS.check("B: both nodes reachable at start", s0 is not None):
        return
    assert s0 is not None
    ok, why = s0.healthy()
    CHECKS.check("B: healthy at start", ok, why)
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
    if not CHECKS.check("B: install pending on the secondary observed", sp is not None):
        return
    assert sp is not None
    log(f"{cl.name}: secondary pending at sim={sp.sim}; primary pending={sp.pending[P]}")
    kind, r = cl.one_shot(
        P, "abort-in-service-upgrade", {}, lambda d: d.rpc.abort_in_service_upgrade()
    )
    t_abort = time.monotonic()
    CHECKS.check(
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
    CHECKS.check(
        "B: right after the abort reply an install is still pending "
        "(abort waits for the current operation)",
        still,
        s1.summary(),
    )
    if sl is None:
        CHECKS.check("B: abort landed within the deadline", False, cl.history[-1].summary())
        return
    pri_pending_seen = any(s.pending[P] for s in after)
    log(
        f"{cl.name}: abort landed {sl.t - t_abort:.2f}s real after the reply "
        f"(sim {sp.sim} -> {sl.sim}); primary install pending seen after abort: {pri_pending_seen}"
    )
    CHECKS.check(
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
    CHECKS.check(
        "B: no reboot and nothing pending after the abort landed",
        wobble is None,
        wobble.summary() if wobble else "",
    )
    if end is None:
        CHECKS.check("B: healthy after abort", False, cl.history[-1].summary())
        return
    CHECKS.check(
        "B: both nodes on the OLD release",
        end.release[P] == end.release[S] == old,
        str(end.release),
    )
    CHECKS.check(
        "B: nothing pending", end.pending[P] is False and end.pending[S] is False, str(end.pending)
    )
    ok, why = end.healthy()
    CHECKS.check("B: cluster healthy", ok, why + " " + end.summary())
    CHECKS.check("B: boot times unchanged", end.boot == boot0, f"{boot0} -> {end.boot}")
    log(
        f"{cl.name}: ICU RPC outcome: {icu['outcome'] or 'still waiting (silent)'}"
        + (f"; reply text: {icu['reply']!r}" if icu.get("reply") else "")
    )
    _ = target


def scenario_c(lab: Lab, cl: Cluster, interval: float) -> None:
    log(f"===== Scenario C: recovery of inconsistent {cl.name}")
    tm = lab.timing
    s0 = cl.wait("both nodes up", lambda s: all(s.up.values()), tm["settle_deadline"] * 2, interval)
    if not CHECKS.check("C: both nodes reachable at start", s0 is not None):
        return
    assert s0 is not None
    P = s0.rg0_primary()
    if not CHECKS.check("C: an RG0 primary exists", P is not None, s0.summary()):
        return
    assert P is not None
    S = other(P)
    CHECKS.check("C: releases differ", s0.release[P] != s0.release[S], str(s0.release))
    prim_rel = s0.release[P]
    boot0 = dict(s0.boot)
    log(f"{cl.name}: RG0 primary {P} on {prim_rel}; secondary {S} on {s0.release[S]}")

    # 1. abort on the secondary
    kind, r = cl.one_shot(
        S, "abort-in-service-upgrade", {}, lambda d: d.rpc.abort_in_service_upgrade()
    )
    txt = xtext(r) if kind == "reply" else str(r)
    if not CHECKS.check(
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
    if not CHECKS.check(
        f"C2: rollback node {nid} names the primary's release {prim_rel}", ok, f"{kind}: {txt}"
    ):
        return
    s1 = cl.snapshot()
    CHECKS.check(
        "C2: secondary still up, release unchanged before the reboot",
        s1.up[S] and s1.release[S] == s0.release[S],
        s1.summary(),
    )
    # 3. reboot: reply expected to be lost or the session closed
    kind, r = cl.one_shot(
        S,
        "request-reboot",
        {"node": nid},
        lambda d: d.rpc.request_reboot(node=nid),
        timeout=tm.get("icu_reply_timeout", 2) * 2,
    )
    log(f"{cl.name}: request-reboot outcome: {kind}")
    CHECKS.check(
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
    CHECKS.check(
        "C3: reboot proven by a changed boot time",
        sb is not None,
        f"{boot0[S]} -> {sb.boot[S] if sb else '?'}",
    )
    lost_seen = any((not s.up[S]) or s.status(0, S) == "lost" for s in cl.history[-200:])
    CHECKS.check("C3: secondary seen down/lost during the reboot", lost_seen)

    def done(s: Snap) -> bool:
        return (
            s.release[P] == s.release[S] == prim_rel
            and s.pending[P] is False
            and s.pending[S] is False
            and s.healthy()[0]
        )

    end = cl.wait(
        "rejoined, consistent, healthy",
        done,
        tm["reboot_deadline"] * 3 + tm["settle_deadline"] * 2,
        interval,
    )
    if end is None:
        CHECKS.check("C: consistent and healthy after recovery", False, cl.history[-1].summary())
        return
    CHECKS.check("C: both nodes on the primary's release", True, str(end.release))
    ok, _why = end.healthy()
    CHECKS.check("C: cluster healthy, nothing pending", ok, end.summary())
    CHECKS.check("C: primary not rebooted", end.boot[P] == boot0[P], f"{boot0[P]} -> {end.boot[P]}")
    CHECKS.check("C: RG0 primary unchanged", end.rg0_primary() == P, str(end.rg0_primary()))


# --------------------------------------------------------------------------- audit
def audit_check(lab: Lab, clusters: list[Cluster]) -> None:
    log("===== Audit log")
    recs = []
    for ln in lab.audit.read_text().splitlines():
        if ln.strip():
            recs.append(json.loads(ln))
    for cl in clusters:
        got = []
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
        print(f"  {cl.name}: state-changing RPCs in the audit log, in order:", flush=True)
        for node, rpc, args, res in got:
            print(f"    {node:6} {rpc:36} {json.dumps(args, sort_keys=True):60} {res}", flush=True)
        sent = [
            (
                e["node"],
                e["rpc"],
                {k: (str(v) if not isinstance(v, bool) else v) for k, v in e["args"].items()},
            )
            for e in cl.sent
        ]
        have = [(n, rpc, a) for n, rpc, a, _ in got]
        CHECKS.check(
            f"audit: {cl.name} RPCs/nodes/args match what the script sent",
            have == sent,
            "" if have == sent else f"sent={sent} audit={have}",
        )
        if have == sent:
            seen = [e["outcome"] for e in cl.sent]
            logged = [res for *_, res in got]
            diff = [
                f"{e['rpc']} on {e['node']}: client saw {o!r}, audit says {a!r}"
                for e, o, a in zip(cl.sent, seen, logged, strict=False)
                if o != a
            ]
            CHECKS.check(
                f"audit: {cl.name} results match what the client saw", not diff, "; ".join(diff)
            )


# --------------------------------------------------------------------------- main
def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--speed", type=float, default=200)
    ap.add_argument("--interval", type=float, default=0.02, help="real seconds between polls")
    ap.add_argument(
        "--tick",
        type=float,
        default=0.01,
        help="ncclient session TICK (default 0.1 makes each RPC >= 100 ms)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary lab directory")
    ap.add_argument("--scenarios", default="ABC", help="which scenarios to run (default ABC)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    if args.tick:
        import ncclient.transport.session as ncs

        ncs.TICK = args.tick

    work = Path(tempfile.mkdtemp(prefix="pyez-walkthrough-"))
    lab = Lab(
        work,
        args.speed,
        [
            {"name": "walk-a", "state": "healthy"},
            {"name": "walk-b", "state": "healthy"},
            {"name": "walk-c", "state": "inconsistent"},
        ],
    )
    clusters: list[Cluster] = []
    try:
        lab.start()
        ca, cb, cc = (Cluster(lab, n) for n in ("walk-a", "walk-b", "walk-c"))
        clusters = [ca, cb, cc]
        hostkey_check(lab, "walk-a")
        for key, fn, cl in (("A", scenario_a, ca), ("B", scenario_b, cb), ("C", scenario_c, cc)):
            if key not in args.scenarios.upper():
                continue
            try:
                fn(lab, cl, args.interval)
            except Exception as e:
                import traceback

                traceback.print_exc()
                CHECKS.check(f"{fn.__name__} ran without an exception", False, repr(e))
            finally:
                cl.close()
    except Exception as e:
        import traceback

        traceback.print_exc()
        CHECKS.check("lab started and scenarios ran", False, repr(e))
    finally:
        for cl in clusters:
            cl.close()
        lab.stop()
    try:
        if lab.audit.exists() and clusters:
            audit_check(lab, clusters)
        else:
            CHECKS.check("audit log present", False, str(lab.audit))
    except Exception as e:
        CHECKS.check("audit log readable", False, repr(e))

    wall = time.monotonic() - T0
    print(
        f"\n{len(CHECKS.items) - len(CHECKS.failed)}/{len(CHECKS.items)} checks held; "
        f"wall time {wall:.1f}s; lab dir {work}{'' if args.keep else ' (removed)'}",
        flush=True,
    )
    for name, _, detail in CHECKS.failed:
        print(f"  DIFFERED: {name}: {detail}", flush=True)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("RESULT: " + ("PASS" if not CHECKS.failed else "FAIL"), flush=True)
    return 0 if not CHECKS.failed else 1


if __name__ == "__main__":
    sys.exit(main())
