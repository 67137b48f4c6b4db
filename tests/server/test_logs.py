"""Operational logs: one JSON object a line for collectors, whatever the message holds."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from webhook.server.logs import configure


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.usefixtures("restore_logging")
def test_every_event_is_one_json_line_tracebacks_included() -> None:
    stream = io.StringIO()
    assert configure(level="INFO", log_format="auto", stream=stream) == "json"
    log = logging.getLogger("egressguard.test")
    log.info("rules in %s do not load:\n  %s", "/rules", "config.yaml:3: bad")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("judging failed")
    log.debug("not shown at INFO")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info" and first["logger"] == "egressguard.test"
    assert first["message"] == "rules in /rules do not load:\n  config.yaml:3: bad"
    assert first["time"].endswith("Z")
    assert second["level"] == "error" and "ValueError: boom" in second["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_text_is_for_a_terminal_and_can_be_asked_for() -> None:
    stream = io.StringIO()
    assert configure(log_format="text", stream=stream) == "text"
    logging.getLogger("egressguard").warning("plain")
    assert stream.getvalue().rstrip().endswith("WARNING egressguard: plain")


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="use one of auto, json, text"):
        configure(log_format="yaml", stream=io.StringIO())
