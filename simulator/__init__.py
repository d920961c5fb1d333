"""SRX chassis cluster simulator: a NETCONF-over-SSH lab for rehearsals, the demo and the
tests (docs/development/lab-contract.md). model.py holds the pure device model, replies.py the
replies
in the forms real devices print (tests/fidelity/captures), __main__.py the lab CLI."""
