"""Staging the package (issue 9 item 1) against the lab: device pulls and SFTP pushes, resume
after SIGKILL, each transfer fault on its own cluster, --cleanup, dry run, upgrade --stage."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import STACK, both_transports, client_stacks, kill_group, wait_until

COPY = "file-copy"
UPLOAD = "sftp-upload"
CHECKSUM = "get-checksum-information"
SHA256 = "get-sha256-checksum-information"
CLEANUP = "request-system-storage-cleanup"
PACKAGE = "/var/tmp/junos-srxsme-24.2R2-S1.3.tgz"


def missing(n: int, *faults: str, prefix: str = "br") -> list[dict[str, Any]]:
    return [{"name": f"{prefix}-{i:04d}", "faults": ["package-missing", *faults]} for i in range(n)]


def per_cluster(audit: list[dict[str, Any]], rpc: str) -> Counter[str]:
    return Counter(r["cluster"] for r in audit if r["rpc"] == rpc)


def checksum_after(audit: list[dict[str, Any]], cluster: str, copy: str, check: str) -> bool:
    """A checksum RPC on the node the copy went to, after the (last) copy."""
    rows = [r for r in audit if r["cluster"] == cluster]
    last = max(i for i, r in enumerate(rows) if r["rpc"] == copy)
    node = rows[last]["node"]
    return any(r["rpc"] == check and r["node"] == node for r in rows[last + 1 :])


def without_package_facts(lab: Any) -> None:
    """A pushed file is its own truth: drop the lab package's size and md5 from the groups."""
    path = lab.inventory_dir / "groups.yaml"
    groups = yaml.safe_load(path.read_text())
    for group in groups.values():
        for key in ("package_size", "package_md5"):
            group["data"].pop(key, None)
    path.write_text(yaml.safe_dump(groups))


def test_stage_ten_clusters_by_pull(make_lab, runbooks_for):
    # GIVEN 10 clusters without the package and the lab's pull source in the inventory
    lab = make_lab(missing(10))
    ops = runbooks_for(lab)
    # WHEN staged with the default fleet-wide transfer limit
    run = ops.run("stage", "--max-transfers", "8")
    # THEN every cluster is ok, one copy each, checked by checksum on the node after it
    assert run.code == 0, run.stderr
    audit = lab.audit()
    assert {n: c["outcome"] for n, c in run.report["clusters"].items()} == {
        f"br-{i:04d}": "ok" for i in range(10)
    }
    assert per_cluster(audit, COPY) == Counter({f"br-{i:04d}": 1 for i in range(10)})
    for name in run.report["clusters"]:
        assert checksum_after(audit, name, COPY, CHECKSUM), name
        copy = run.report["clusters"][name]["stage"]["nodes"]["node0"]["copy"]
        assert copy["bytes"] == 456_130_000 and copy["duration_s"] > 0
        assert copy["checksum"]["device"] == copy["checksum"]["expected"]
    # AND a second run finds every package in place and copies nothing
    again = ops.run("stage")
    assert again.code == 0
    assert {c["outcome"] for c in again.report["clusters"].values()} == {"skipped"}
    assert per_cluster(lab.audit(), COPY) == per_cluster(audit, COPY)


@both_transports  # parity: the push over paramiko's SFTP and over asyncssh's
def test_stage_ten_clusters_by_push_to_both_nodes(make_lab, runbooks_for, tmp_path, transport):
    lab = make_lab(missing(10))
    without_package_facts(lab)
    package = tmp_path / "junos.tgz"
    package.write_bytes(bytes(range(256)) * 12_000)  # 3 MB
    ops = runbooks_for(lab)
    run = ops.run("stage", "--push", str(package), "--nodes", "both", "--max-transfers", "10")
    assert run.code == 0, run.stderr + run.stdout
    audit = lab.audit()
    uploads = Counter((r["cluster"], r["node"]) for r in audit if r["rpc"] == UPLOAD)
    assert uploads == Counter({(f"br-{i:04d}", n): 1 for i in range(10) for n in NODES})
    assert client_stacks(audit) == {STACK[transport]}
    for name, entry in run.report["clusters"].items():
        assert entry["outcome"] == "ok"
        for node in NODES:
            rows = [r for r in audit if r["cluster"] == name and r["node"] == node]
            up = max(i for i, r in enumerate(rows) if r["rpc"] == UPLOAD)
            assert any(r["rpc"] == SHA256 for r in rows[up + 1 :]), (name, node)
            assert entry["stage"]["nodes"][node]["copy"]["bytes"] == 3_072_000


NODES = ("node0", "node1")


def test_stage_resumes_after_sigkill_without_recopying(make_lab, runbooks_for):
    # GIVEN copies of about three seconds each, two at a time
    lab = make_lab(missing(6), link_mbps=2)
    ops = runbooks_for(lab)
    proc, _report = ops.start("stage", "--max-transfers", "2")

    # WHEN the run is killed once two copies are complete and more are under way
    def done_and_running() -> bool:
        audit = lab.audit()
        return (
            sum(per_cluster(audit, CHECKSUM).values()) >= 2 and len(per_cluster(audit, COPY)) >= 3
        )

    wait_until(done_and_running, 60, message="two copies done, a third running")
    kill_group(proc, signal.SIGKILL)
    before = lab.audit()
    verified = {r["cluster"] for r in before if r["rpc"] == CHECKSUM}
    # THEN the next run finishes every cluster and copies none of the completed ones again
    run = ops.run("stage", "--max-transfers", "6")
    assert run.code == 0, run.stderr
    after = per_cluster(lab.audit(), COPY)
    for name in verified:
        assert after[name] == 1, name
        assert run.report["clusters"][name]["outcome"] == "skipped"
    assert all(after[f"br-{i:04d}"] >= 1 for i in range(6))
    interrupted = [n for n in per_cluster(before, COPY) if n not in verified]
    assert interrupted
    for name in interrupted:
        assert run.report["clusters"][name]["outcome"] == "ok"
        notes = [r.get("message", "") for r in ops.journal(name) if r["event"] == "note"]
        assert any("was interrupted" in m for m in notes), notes


def test_each_transfer_fault_on_its_own_cluster(make_lab, runbooks_for):
    # GIVEN one healthy cluster and one per transfer fault, on a 5 Mbit/s link (slow-link:
    # a twentieth of it), with a minimum rate the slow link cannot meet
    names = ["ok", "transfer-fails", "transfer-corrupt", "url-unreachable", "slow-link"]
    clusters = [
        {"name": f"br-{n}", "faults": ["package-missing"] + ([] if n == "ok" else [n])}
        for n in names
    ]
    lab = make_lab(clusters, link_mbps=5)
    ops = runbooks_for(lab)
    run = ops.run("stage", "--max-transfers", "5", "--min-rate", "1000", timeout=300)
    assert run.code == 1
    out = {n: run.cluster(f"br-{n}") for n in names}
    audit = lab.audit()
    copies, deletes = per_cluster(audit, COPY), per_cluster(audit, "file-delete")
    assert out["ok"]["outcome"] == "ok" and copies["br-ok"] == 1
    assert "Connection reset by peer" in out["transfer-fails"]["detail"]
    assert "differs" in out["transfer-corrupt"]["detail"]
    assert "No route to host" in out["url-unreachable"]["detail"]
    assert "file-fetch failed" in out["url-unreachable"]["detail"]
    assert "slower than 1000 Mbit/s" in out["slow-link"]["detail"]
    for fault in ("transfer-fails", "transfer-corrupt", "slow-link"):
        assert out[fault]["outcome"] == "failed"
        assert copies[f"br-{fault}"] == 2, fault  # retried once, not more
        assert deletes[f"br-{fault}"] == 2, fault  # the bad copy removed each time
        copy = out[fault]["stage"]["nodes"]["node0"]["copy"]
        assert copy["attempts"] == 2 and len(copy["removed"]) == 2
    assert copies["br-url-unreachable"] == 2 and deletes["br-url-unreachable"] == 0


def test_cleanup_frees_space_and_is_listed(make_lab, runbooks_for):
    lab = make_lab(missing(1, "disk-full-primary"))
    ops = runbooks_for(lab)
    # WHEN staged without --cleanup: refused, nothing copied
    short = ops.run("stage")
    assert short.code == 1
    assert "needed" in short.cluster("br-0000")["detail"]
    assert "--cleanup" in short.cluster("br-0000")["detail"]
    assert not per_cluster(lab.audit(), COPY)
    # WHEN staged with --cleanup: listed (dry run first), run, space read again, copied
    run = ops.run("stage", "--cleanup")
    assert run.code == 0, run.stderr
    space = run.cluster("br-0000")["stage"]["nodes"]["node0"]["space"]
    files = [f[0] for f in space["cleanup"]["files"]]
    assert "/var/crash/flowd_octeon_hm.core.0.gz" in files
    assert space["free_after_cleanup"] >= space["needed"] > space["free"]
    calls = [r for r in lab.audit() if r["rpc"] in (CLEANUP, COPY)]
    assert [(r["rpc"], bool(r["args"].get("dry-run"))) for r in calls] == [
        (CLEANUP, True),
        (CLEANUP, False),
        (COPY, False),
    ]


def test_dry_run_copies_nothing(make_lab, runbooks_for):
    lab = make_lab([*missing(2), {"name": "br-full", "faults": ["package-missing", "disk-full"]}])
    ops = runbooks_for(lab)
    run = ops.run("stage", "--dry-run", "--nodes", "both", "--cleanup")
    assert run.code == 0, run.stderr
    detail = run.cluster("br-0000")["detail"]
    assert f"-> node0:{PACKAGE} (456130000 bytes)" in detail
    assert f"-> node1:{PACKAGE} (456130000 bytes)" in detail
    assert "http://images.lab.example/images/" in detail
    full = run.cluster("br-full")
    assert full["outcome"] == "would-stage" and "would clean up" in full["detail"]
    sent = {r["rpc"] for r in lab.audit()}
    assert not sent & {COPY, "file-delete"}
    assert not [r for r in lab.audit() if r["rpc"] == CLEANUP and not r["args"].get("dry-run")]
    assert "would copy" in run.stdout


def test_upgrade_stage_copies_then_upgrades(make_lab, runbooks_for):
    lab = make_lab(missing(1))
    ops = runbooks_for(lab)
    run = ops.run("upgrade", "--stage", "--yes", timeout=300)
    assert run.code == 0, run.stderr + run.stdout
    entry = run.cluster("br-0000")
    assert entry["outcome"] == "ok"
    assert entry["stage"]["nodes"]["node0"]["copy"]["ok"]
    audit = lab.audit()
    copy = next(i for i, r in enumerate(audit) if r["rpc"] == COPY)
    icu = next(i for i, r in enumerate(audit) if r["rpc"] == "request-package-in-service-upgrade")
    assert copy < icu


def test_credentials_in_the_url_are_redacted(make_lab, runbooks_for, tmp_path: Path):
    lab = make_lab(missing(1))
    ops = runbooks_for(lab)
    url = "ftp://ops:s3cret@images.lab.example/images/"
    run = ops.run("stage", "--from", url)
    assert run.code == 0, run.stderr
    assert "s3cret" not in run.report_path.read_text()
    assert "s3cret" not in run.stdout + run.stderr
    assert "s3cret" not in (ops.workdir / "state" / "journal" / "br-0000.jsonl").read_text()
    assert "ftp://ops:****@" in run.cluster("br-0000")["stage"]["source"]


def test_pull_verified_against_the_checksum_file_next_to_the_url(make_lab, runbooks_for):
    # GIVEN an inventory without package_size/package_md5, and the operator's HTTP server
    # publishing the package's size and a .md5 file next to it
    import http.server
    import threading

    from simulator.replies import package_digest

    digest = package_digest(PACKAGE, "md5")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "456130000")
            self.end_headers()

        def do_GET(self) -> None:
            if not (self.path.startswith("/images/") and self.path.endswith(".md5")):
                self.send_error(404)
                return
            body = f"{digest}  junos-srxsme-24.2R2-S1.3.tgz\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        lab = make_lab(missing(2))
        without_package_facts(lab)
        ops = runbooks_for(lab)
        url = f"http://127.0.0.1:{server.server_address[1]}/images/"
        run = ops.run("stage", "--from", url)
        # THEN the copies are verified against the published checksum
        assert run.code == 0, run.stderr
        for name in ("br-0000", "br-0001"):
            stage = run.cluster(name)["stage"]
            assert stage["expected"] == digest and stage["bytes"] == 456_130_000
            assert stage["nodes"]["node0"]["copy"]["checksum"]["device"] == digest
        # AND without a checksum file the pull is refused before any device
        refused = ops.run("stage", "--from", url.replace("/images/", "/nothing/x.tgz"))
        assert refused.code == 2 and "no " in refused.stderr and ".md5" in refused.stderr
    finally:
        server.shutdown()
