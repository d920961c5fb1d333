"""make demo: a rehearsal window against the simulator, start to finish.

Starts a lab of 24 clusters at high speed (some of them left broken by a "previous window"),
then runs, as an operator would: status, an abort of an ICU somebody else started (which
leaves the cluster inconsistent and is recovered at once), a fleet upgrade that first stages
the package where it is missing (live bytes per transfer) and compares the services before
and after (one cluster's tunnel does not come back), an abort from a second terminal of one
cluster whose ICU that upgrade follows (handed to the upgrade, which sends it at its next
step; the other clusters go on), a recover sweep for the clusters the
previous window broke, and a final status. Stops the lab at the end, whatever happens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator.testing import LabProcess, private_config, start_lab

ROOT = Path(__file__).resolve().parents[1]  # the project root
SPEED = 300.0  # one ICU of ~52 simulated minutes takes ~10 s

LAB = {
    "speed": SPEED,
    # each branch's link for device pulls: 2 Mbit/s simulated, ~6 s real for the package
    "link_mbps": 2,
    "clusters": [
        *({"name": f"br-{i:04d}", "model": "SRX345", "state": "healthy"} for i in range(1, 13)),
        # the package is not on these primaries yet: `upgrade --stage` pulls it first
        *(
            {
                "name": f"br-{i:04d}",
                "model": "SRX345",
                "state": "healthy",
                "faults": ["package-missing"],
            }
            for i in range(13, 16)
        ),
        # upgrades fine, but its second IPsec tunnel does not come back: services-lost
        {
            "name": "br-0016",
            "model": "SRX345",
            "state": "healthy",
            "faults": ["tunnel-lost-after-upgrade"],
        },
        {"name": "br-0017", "model": "SRX345", "state": "inconsistent"},
        {"name": "br-0018", "model": "SRX380", "state": "pending-install"},
        {"name": "br-0019", "model": "SRX345", "state": "node-down"},
        {"name": "br-0020", "model": "SRX345", "state": "upgraded"},
        {"name": "br-0021", "model": "SRX345", "state": "healthy", "faults": ["major-alarm"]},
        {"name": "br-0022", "model": "SRX345", "state": "healthy", "faults": ["disk-full"]},
        {
            "name": "br-0023",
            "model": "SRX340",
            "state": "icu-in-progress",
            "icu_phase": "secondary-reboot",
            "faults": ["slow-reboot"],
        },
        {"name": "br-0024", "model": "SRX320", "state": "inconsistent"},
    ],
}


def banner(text: str) -> None:
    print(f"\n=== {text} ===", flush=True)


def runbook(inventory: Path, state: Path, *args: str) -> int:
    code = start(inventory, state, *args).wait()
    print(f"(exit code {code})", flush=True)
    return code


def start(inventory: Path, state: Path, *args: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "runbooks",
        args[0],
        "--config",
        str(private_config(state)),
        "--inventory",
        str(inventory),
        *args[1:],
    ]
    shown = " ".join(["python -m runbooks", args[0], "--inventory", "LAB", *args[1:]])
    print(f"$ {shown}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(cmd, cwd=state, env=env)


def abort_from_a_second_terminal(lab: LabProcess, inv: Path, work: Path, name: str) -> None:
    """Once `name`'s ICU has left, abort it as a second terminal would: the upgrade that
    follows it is handed the abort and sends it at its next step."""
    deadline = time.monotonic() + 120
    icu = "request-package-in-service-upgrade"
    while not any(r["rpc"] == icu for r in lab.audit(name)):
        if time.monotonic() > deadline:
            print(f"{name}: no ICU within 120 s; no abort from a second terminal", flush=True)
            return
        time.sleep(0.2)
    banner(f"3b. meanwhile, in a second terminal: abort {name}, whose ICU our upgrade follows")
    runbook(inv, work, "abort", "--cluster", name, "--report", str(work / "abort-2.json"))


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="srx-demo-") as tmp:
        work = Path(tmp)
        with start_lab(LAB, work / "lab", speed=SPEED) as lab:
            inv = lab.inventory_dir
            print(
                f"lab ready: {len(LAB['clusters'])} clusters at speed {SPEED:g} (inventory {inv})"
            )
            banner("1. status: what did the last window leave behind?")
            runbook(inv, work, "status")
            banner(
                "2. abort the ICU someone else started on br-0023 (lands after the "
                "secondary reboot: inconsistent, recovered at once)"
            )
            runbook(
                inv, work, "abort", "--cluster", "br-0023", "--report", str(work / "abort.json")
            )
            banner(
                "3. upgrade the fleet: stage the package where it is missing (live bytes), "
                "pre-checks stop the clusters that are not fit, services compared after"
            )
            up = work / "up.json"
            upgrade = start(inv, work, "upgrade", "--stage", "--workers", "30", "--report", str(up))
            abort_from_a_second_terminal(lab, inv, work, "br-0005")
            print(f"(upgrade exit code {upgrade.wait()})", flush=True)
            lost = {
                name: c["detail"]
                for name, c in json.loads(up.read_text())["clusters"].items()
                if c["outcome"] == "services-lost"
            }
            for name, detail in lost.items():
                print(f"services-lost {name}: {detail}")
            banner("4. recover every cluster the previous window left inconsistent")
            runbook(inv, work, "recover", "--report", str(work / "recover.json"))
            banner("5. final status")
            code = runbook(inv, work, "status")
            banner("6. the upgrade's report as Markdown for the change record (first lines)")
            report = [sys.executable, "-m", "runbooks", "report", str(up)]
            print("$ python -m runbooks report up.json", flush=True)
            text = subprocess.run(report, capture_output=True, text=True, check=True).stdout
            print("\n".join(text.splitlines()[:24]), flush=True)
            audit = lab.audit()
            icu = sum(1 for r in audit if r["rpc"] == "request-package-in-service-upgrade")
            print(f"\nsimulator audit log: {len(audit)} RPCs, {icu} ICU commands")
        print("lab stopped")
    # The final status lists what still needs a human (node-down, major alarm, disk-full).
    return 0 if code in (0, 1) else code


if __name__ == "__main__":
    sys.exit(main())
