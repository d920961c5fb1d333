#!/usr/bin/env python
"""Independent PyEZ walkthrough of the SRX chassis-cluster simulator (command line).

Standalone: raw PyEZ (jnpr.junos.Device, dev.rpc.*, dev.cli) only.  It starts its own lab
(python -m simulator ...) in a temporary directory, connects with host-key verification ON,
and runs three scenarios concurrently, each on a cluster of its own, observing every state by
polling:

  A  healthy cluster: full ICU, followed phase by phase to a consistent, healthy end state;
  B  healthy cluster: ICU, abort while the secondary's install is pending, back to the old
     release with nothing pending;
  C  inconsistent cluster: abort -> rollback node <id> -> reboot on the RG0 secondary, then
     wait for it to rejoin on the primary's release.

Finally the audit log is checked against the state-changing RPCs the script sent.

The machinery lives in tests/fidelity/walkthrough/harness.py, where pytest turns every check
into a test of its own (tests/fidelity/walkthrough/test_walkthrough.py); this is its command
line, loaded from the file so that nothing else of the repository is imported.

Run:  .venv/bin/python scripts/pyez_walkthrough.py [--speed 200] [--keep] [--serial]
Exit 0 only when every check held ("RESULT: PASS").
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HARNESS = Path(__file__).resolve().parent.parent / "tests/fidelity/walkthrough/harness.py"


def _harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pyez_walkthrough_harness", HARNESS)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


if __name__ == "__main__":
    sys.exit(_harness().main())
