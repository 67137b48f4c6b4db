"""Operational logs on stderr: one JSON object a line (for log collectors), or plain text
for a person at a terminal. The audit log is separate (JSON lines on stdout).

A JSON line carries ``time`` (UTC, RFC 3339), ``level``, ``logger`` and ``message``, and
``exception`` with the whole traceback when there is one: a multi-line message or traceback
stays one line, so a collector never splits an event.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

FORMATS = ("auto", "json", "text")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def chosen_format(requested: str, stream: TextIO) -> str:
    """``auto``: text on a terminal, JSON everywhere else (a container's log)."""
    if requested != "auto":
        return requested
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def configure(*, level: str = "INFO", log_format: str = "auto",
              stream: TextIO | None = None) -> str:
    """Sends every logger's records to ``stream`` (stderr) in the chosen format; returns it."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {', '.join(FORMATS)}")
    target = stream if stream is not None else sys.stderr
    chosen = chosen_format(log_format, target)
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if chosen == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings become log records, not stray stderr lines
    return chosen
