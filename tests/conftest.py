"""Suite-wide: build the control-plane binaries before any end-to-end test runs, and helm
and actionlint before any test marked ``tools``.

A first build takes far longer than one test's timeout, so it happens once, after
collection, whenever a selected test needs it, with its progress shown on the terminal.
"""

from __future__ import annotations

import pytest

from tests.deploy.tools import build_tools
from tests.e2e.binaries import controlplane_binaries, terminal_output


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    if any(item.get_closest_marker("e2e") for item in session.items):
        with terminal_output(session.config):
            controlplane_binaries()
    if any(item.get_closest_marker("tools") for item in session.items):
        with terminal_output(session.config):
            build_tools()
