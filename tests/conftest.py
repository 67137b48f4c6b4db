"""Suite-wide: build the control-plane binaries before any end-to-end test runs, helm and
actionlint before any test marked ``tools``, and istioctl and helm before any test of the
injection corpus (tests/inject, or marked ``meshtools``).

A first build takes far longer than one test's timeout, so it happens once, after
collection, whenever a selected test needs it, with its progress shown on the terminal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.tools import build_tools
from tests.e2e.binaries import controlplane_binaries, terminal_output
from tests.inject.tools import meshtools

INJECT_TESTS = Path(__file__).parent / "inject"


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
