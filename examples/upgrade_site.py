"""Your own Nornir script with the runbooks' tasks: upgrade the clusters of one site.

    python examples/upgrade_site.py config.yaml --filter site=nyc [--dry-run]

`srx_upgrade` brings every safety rule of `python -m runbooks upgrade` with it: host keys
verified, your ~/.ssh/config ignored, the cluster locked, every step journaled under the
config's state_dir, and an ICU an earlier run sent re-attached instead of sent again (kill
this script mid-ICU and run it again). Fleet policy (canary, failure budget, windows, live
progress, the JSON report) is what the runbooks' CLI adds on top.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nornir_utils.plugins.functions import print_result

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the project's tasks/ package, when run from anywhere

from tasks import init_nornir, srx_upgrade  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--inventory", help="a directory with hosts/groups/defaults.yaml")
    ap.add_argument("--filter", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()

    options = {}
    if args.inventory:
        inv = Path(args.inventory)
        files = {f"{k}_file": str(inv / f"{k}s.yaml") for k in ("host", "group")}
        files["defaults_file"] = str(inv / "defaults.yaml")
        options["inventory"] = {"plugin": "SimpleInventory", "options": files}
    nr = init_nornir(args.config, dry_run=args.dry_run, **options)
    selected = nr.filter(**dict(f.split("=", 1) for f in args.filter))

    result = selected.run(task=srx_upgrade)
    print_result(result)
    for name, multi in sorted(result.items()):
        outcome = multi[0].result
        print(f"{name}: {outcome.outcome} ({outcome.state}) {outcome.detail}")
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
