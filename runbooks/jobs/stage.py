"""stage: put the upgrade package on each selected cluster's RG0 primary (or both nodes),
verified by size and checksum on the device."""

from __future__ import annotations

import argparse
import base64
import contextlib
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from runbooks.cli.fleet_options import common_options
from runbooks.engines.base import Launch
from runbooks.fleet.inventory import Fleet
from tasks import Expected, StageSpec, TransferSlots, package_source
from tasks.errors import BadInput
from tasks.input_rules import STAGE_RULES, push_problem, pushed_mismatch
from tasks.jobs import srx_stage
from tasks.state.redact import redact
from tasks.state.settings import Target

SUMMARY = "put the upgrade package on the clusters' nodes, verified by size and checksum"
DETAILS = """\
Per cluster, each step observed first: the package already on the node(s) with the expected
size and checksum (inventory package_size and package_md5/package_sha256, or the pushed
file's own) -> skipped; free space for twice the package (ICU's rule) on each node that needs
a copy, with --cleanup `request system storage cleanup` listed (in the report), run and the
space read again; the copy, pulled by the device (`file copy` from --from URL or the
inventory's package_url: http, https, ftp, scp) or pushed from this host over SFTP (--push
FILE, streamed), at most --max-transfers at once across the fleet, each within a deadline
from its size and --min-rate; then size and checksum verified on the device. A partial or
corrupt file is removed and the copy tried once more, then the cluster fails with the
device's words. Copying is not destructive: the running software is never touched, so an
interrupted stage simply re-runs, and a complete file is never copied again."""
EXAMPLES = """\
  python -m runbooks stage --from http://images.example.net/junos/ --dry-run
  python -m runbooks stage --filter site=nyc --max-transfers 10 --cleanup --report stage.json
  python -m runbooks stage --push ./junos-srxsme-24.2R2-S1.3.tgz --nodes both"""


def add_source_options(g: argparse._ArgumentGroup) -> None:
    src = g.add_mutually_exclusive_group()
    src.add_argument(
        "--from",
        dest="source_url",
        metavar="URL",
        help="the device pulls the package from URL (a directory URL ending in '/' gets the "
        "package's name); default: the inventory's package_url",
    )
    src.add_argument("--push", type=Path, metavar="FILE", help="push FILE over SFTP instead")
    g.add_argument(
        "--max-transfers",
        type=int,
        default=4,
        metavar="N",
        help="copies at once across the fleet (default 4: links are not flooded)",
    )
    g.add_argument(
        "--min-rate",
        type=float,
        default=1.0,
        metavar="MBIT/S",
        help="a copy slower than this fails (its deadline: size / rate; default 1)",
    )
    g.add_argument(
        "--cleanup",
        action="store_true",
        help="when space is short, run 'request system storage cleanup' (listed first)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("stage")
    add_source_options(g)
    g.add_argument(
        "--nodes",
        choices=("primary", "both"),
        default="primary",
        help="the RG0 primary (what the ICU needs) or both nodes",
    )
    g.add_argument("--target-release", help="override the inventory's target release")
    g.add_argument("--package", help="override the inventory's package path on the node")


def stage_spec(args: argparse.Namespace, fleet: Fleet, nodes: str = "primary") -> StageSpec:
    """The stage options, checked against every selected cluster before any device."""
    if args.max_transfers < 1:
        raise BadInput("--max-transfers must be at least 1")
    if why := STAGE_RULES["min_rate_mbps"](args.min_rate):
        raise BadInput(f"--min-rate {why}")
    pushed = None
    if args.push is not None:
        if why := push_problem(args.push):
            raise BadInput(f"--push: {why}")
        try:
            pushed = Expected.of_file(args.push)
        except OSError as exc:
            raise BadInput(f"--push: cannot read {args.push}: {exc.strerror}") from None
    spec = StageSpec(
        url=args.source_url,
        push=args.push.resolve() if args.push is not None else None,
        pushed=pushed,
        nodes=nodes,
        cleanup=args.cleanup,
        min_rate_mbps=args.min_rate,
        link=TransferSlots(args.max_transfers),
        ready=TransferSlots(2 * args.max_transfers),
    )
    for name in fleet.names:
        _check_cluster(spec, fleet, name, args)
    return spec


def _check_cluster(spec: StageSpec, fleet: Fleet, name: str, args: argparse.Namespace) -> None:
    host = fleet.nr.inventory.hosts[name]
    release, package = getattr(args, "target_release", None), getattr(args, "package", None)
    target = Target.resolve(host, release=release, package=package)
    if "://" in target.package:
        return  # the ICU fetches it itself: nothing to stage
    if package_source(spec, host, target) is None:
        raise BadInput("no source: give --from URL or --push FILE (or package_url)", cluster=name)
    if spec.pushed is not None:
        if what := pushed_mismatch(spec.pushed, target):
            raise BadInput(f"--push file does not match the inventory's {what}", cluster=name)
    elif Expected.of_target(target) is None:
        url = str(package_source(spec, host, target))
        if url not in spec.published:  # the checksum file next to the URL, read once per URL
            try:
                spec.published[url] = published_facts(url, target.size)
            except BadInput as exc:
                raise BadInput(exc.message, cluster=name) from None


_HEX = re.compile(r"\b([0-9a-fA-F]{64}|[0-9a-fA-F]{32})\b")


def published_facts(url: str, size: int | None, timeout: float = 10.0) -> Expected:
    """Size (Content-Length) and checksum (URL.sha256, else URL.md5) the operator's server
    publishes next to the package, for an inventory without package_size/package_md5."""
    parts = urlsplit(url)
    shown = redact(url)
    why = "no package_size and package_md5/package_sha256 in the inventory"
    if parts.scheme not in ("http", "https", "ftp"):
        raise BadInput(f"{why}, and no checksum file can be read over {parts.scheme}: {shown}")
    try:
        if size is None:
            with _open(url, timeout, head=True) as reply:
                size = int(reply.headers.get("Content-Length") or -1)
        for suffix, algorithm in ((".sha256", "sha256"), (".md5", "md5")):
            with contextlib.suppress(urllib.error.URLError, OSError, ValueError):
                with _open(url + suffix, timeout) as reply:
                    found = _HEX.search(reply.read(4096).decode(errors="replace"))
                if found and len(found.group(1)) == (64 if algorithm == "sha256" else 32):
                    digest = found.group(1).lower()
                    if size is None or size < 0:
                        raise BadInput(f"{why}, and {shown} gives no size")
                    return Expected(size, **{algorithm: digest})
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise BadInput(f"{why}, and {shown} cannot be read: {exc}") from None
    raise BadInput(f"{why}, and no {shown}.sha256 or .md5 next to it")


def _open(url: str, timeout: float, *, head: bool = False) -> Any:
    """urlopen with credentials in an http(s) URL sent as basic auth (urllib does not)."""
    parts = urlsplit(url)
    headers: dict[str, str] = {}
    if parts.scheme in ("http", "https") and parts.username:
        host = str(parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        plain = str(urlunsplit(parts._replace(netloc=host)))
        token = base64.b64encode(f"{parts.username}:{parts.password or ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        url = plain
    method = "HEAD" if head and parts.scheme != "ftp" else None
    return urllib.request.urlopen(
        urllib.request.Request(url, headers=headers, method=method), timeout=timeout
    )


def prepare(args: argparse.Namespace, fleet: Fleet) -> Launch:
    opts = common_options(args, "stage", srx_stage, fleet)
    opts.windowed = False  # copying is not destructive: no maintenance window needed
    opts.kwargs = {
        "spec": stage_spec(args, fleet, args.nodes),
        "target_release": args.target_release,
        "package": args.package,
    }
    return Launch(fleet, opts)
