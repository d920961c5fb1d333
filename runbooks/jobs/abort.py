"""abort: stop running ICUs safely; recover what the abort leaves inconsistent."""

from __future__ import annotations

import argparse

from runbooks.cli.fleet_options import common_options
from runbooks.engines.base import Launch
from runbooks.fleet.inventory import Fleet
from tasks.jobs import srx_abort

SUMMARY = "stop running ICUs safely; recover what the abort leaves inconsistent"
DETAILS = """\
Per cluster with an ICU running: `request system software abort in-service-upgrade` on the
RG0 primary, then wait for it to land (the device finishes its current operation first):
rolled back cleanly -> ok; left inconsistent (it landed during or after the secondary's
reboot) -> recovered at once, or reported `inconsistent` with --no-recover; the primary's
reboot had begun -> the upgrade is followed to its end, `too-late`. No ICU visible ->
skipped, nothing sent; an ICU still in its validate or push phase shows nothing a second
session can read, so --even-if-idle sends the abort to healthy clusters too (harmless when
no ICU runs) and watches that nothing starts. Never held back by a maintenance window."""
EXAMPLES = """\
  python -m runbooks abort --cluster br-0023 --dry-run
  python -m runbooks abort --filter site=nyc --no-recover --report abort.json
  python -m runbooks abort --cluster br-0023 --even-if-idle   # an ICU started minutes ago"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("abort")
    g.add_argument(
        "--no-recover",
        action="store_true",
        help="report an inconsistent result with the recover command instead of recovering it",
    )
    g.add_argument(
        "--even-if-idle",
        action="store_true",
        help="send the abort to healthy clusters that show no ICU too (an ICU in its validate "
        "or push phase is invisible to a second session), then watch that nothing starts",
    )


def prepare(args: argparse.Namespace, fleet: Fleet) -> Launch:
    opts = common_options(args, "abort", srx_abort, fleet)
    opts.windowed = False  # an abort is never held back by a maintenance window
    opts.kwargs = {"no_recover": args.no_recover, "even_if_idle": args.even_if_idle}
    return Launch(fleet, opts)
