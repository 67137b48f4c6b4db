"""Suite-wide: build the control-plane binaries before any end-to-end test runs, helm and
actionlint before any test marked ``tools``, and istioctl and helm before any test of the
injection corpus (tests/inject, or marked ``meshtools``).

A first build takes far longer than one test's timeout, so it happens once, after
collection, whenever a selected test needs it, with its progress shown on the terminal.

Hypothesis runs under one of two profiles (``--hypothesis-profile``): ``dev``, the default,
for quick local runs, and ``ci``, which ``make test`` and ``make unit`` use: more examples,
the same examples on every run (a failure reproduces), and no example database. A test that
names its own ``max_examples`` keeps it under both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.deploy.tools import build_tools
from tests.e2e.binaries import controlplane_binaries, terminal_output
from tests.inject.tools import meshtools

INJECT_TESTS = Path(__file__).parent / "inject"

# Two CPU cores shared by many processes: timing says nothing about a test's correctness.
_SLOW_MACHINE = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=30, **_SLOW_MACHINE)
settings.register_profile(
    "ci", max_examples=200, derandomize=True, database=None, print_blob=True, **_SLOW_MACHINE
)
settings.load_profile("dev")


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(item.get_closest_marker("e2e") for item in session.items):
        with terminal_output(session.config):
            controlplane_binaries()
    if any(item.get_closest_marker("tools") for item in session.items):
        with terminal_output(session.config):
            build_tools()
    if any(INJECT_TESTS in Path(item.path).parents or item.get_closest_marker("meshtools")
           for item in session.items):
        with terminal_output(session.config):
            meshtools()
