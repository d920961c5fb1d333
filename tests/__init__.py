"""The test suite. A regular package, not a namespace one: a library that installs a
top-level `tests` package into site-packages (textfsm 2.1.1 does) would otherwise hide this
one, and `from tests.e2e.conftest import ...` would fail to import."""
