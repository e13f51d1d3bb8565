"""Test-only scenario: sig_two_a under its own name, so that the two run side by side (it faults $SIGNAL_NODE_B)."""

from __future__ import annotations

import runpy
from pathlib import Path

_twin = runpy.run_path(str(Path(__file__).with_name("sig_two_a.py")))
HYPOTHESIS, HOLDS, run, check = _twin["HYPOTHESIS"], _twin["HOLDS"], _twin["run"], _twin["check"]
