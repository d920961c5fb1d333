"""Entry points: python -m runbooks {status,upgrade,abort,recover}."""
