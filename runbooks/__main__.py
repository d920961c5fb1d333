import sys

from runbooks import signals

signals.catch_early()  # before the imports below: a stop at any moment ends with a report

from runbooks.cli import main  # noqa: E402

sys.exit(main())
