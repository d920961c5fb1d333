"""recover: bring inconsistent clusters back to one release (abort, rollback, reboot)."""

from __future__ import annotations

import argparse

from runbooks.cli.fleet_options import add_schedule, common_options, schedule
from runbooks.engines.base import Launch
from runbooks.fleet.inventory import Fleet
from tasks.jobs import srx_recover

SUMMARY = "bring inconsistent clusters back to one release (abort, rollback, reboot)"
DETAILS = """\
Acts only on inconsistent clusters (nodes on different releases) and leftover pending
installs on the RG0 secondary. On the RG0 secondary, strictly in order and each verified:
abort -> rollback node <id> -> reboot; then waits for it to rejoin and verifies the cluster
consistent and healthy. Healthy clusters are skipped; ambiguous ones refused with the
reason and the manual step."""
EXAMPLES = """\
  python -m runbooks recover --filter site=nyc --dry-run
  python -m runbooks recover --from-report last-night.json --only failed --report morning.json"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_schedule(parser, at_window_end=False)


def prepare(args: argparse.Namespace, fleet: Fleet) -> Launch:
    opts = common_options(args, "recover", srx_recover, fleet)
    schedule(args, opts, fleet)
    return Launch(fleet, opts)
