"""Nornir task functions and the per-cluster plans for SRX chassis cluster ICU work.

Dependency direction: runbooks -> tasks -> (nornir, napalm). Only `tasks.junos` speaks XML.
"""
