import sys

from runbooks import signals

signals.catch_early()  # before the imports below: a stop at any moment ends with a report

if sys.argv[1:2] in (["worker"], ["attach"]):  # --engine celery: a worker, or a re-attach
    from runbooks.celery_worker import main as celery_main

    sys.exit(celery_main(sys.argv[1:]))

from runbooks.cli import main  # noqa: E402

sys.exit(main())
