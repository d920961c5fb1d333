"""`python -m runbooks`, and the `srx-runbooks` command (pyproject.toml) that runs the same."""

import sys

from runbooks.cli import signals


def main() -> int:
    signals.catch_early()  # before the imports below: a stop at any moment ends with a report
    if sys.argv[1:2] in (["worker"], ["attach"]):  # --engine celery: a worker, or a re-attach
        from runbooks.engines.celery_worker import main as celery_main

        return celery_main(sys.argv[1:])
    if sys.argv[1:2] in (["approve"], ["reject"]):  # answer a run paused for approval
        from runbooks.fleet.approval import main as approval_main

        return approval_main(sys.argv[2:], approved=sys.argv[1] == "approve")
    if sys.argv[1:2] == ["report"]:  # a report file as a change report people read
        from runbooks.output.change_report import main as report_main

        return report_main(sys.argv[2:])
    from runbooks.cli.main import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
