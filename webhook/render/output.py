"""The edge of ``render``: a Rendering as YAML text, a stream, or a folder of files.

Each file opens with comments a reviewer reads first (what rendered it, from which rules
revision, and the notes: what was left out and why). Writing a folder replaces the files
egressguard wrote before, including those of destinations that are gone, and never touches
a file it did not write.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from webhook.render.objects import RenderedFile
from webhook.render.rendering import Rendering
from webhook.render.yamltext import yaml_text

MARKER = "# Rendered by egressguard"
WIDTH = 96


def header(rendering: Rendering, file: RenderedFile) -> str:
    lines = [
        f"{MARKER} (mode {rendering.mode}) from rules revision {rendering.revision or 'unknown'}.",
        f"# {file.name}: do not edit; change the rules and render again.",
    ]
    for note in file.notes:
        wrapped = textwrap.wrap(note, WIDTH - 4, break_long_words=False, break_on_hyphens=False)
        lines.append("#")
        lines.append(f"# - {wrapped[0]}")
        lines += [f"#   {line}" for line in wrapped[1:]]
    return "\n".join(lines) + "\n"


def file_text(rendering: Rendering, file: RenderedFile) -> str:
    return header(rendering, file) + "".join(
        "---\n" + yaml_text(doc) for doc in file.documents
    )


def stream_text(rendering: Rendering) -> str:
    """Every file in order, as one multi-document YAML stream (for stdout)."""
    return "".join(file_text(rendering, file) for file in rendering.files)


def _written_by_us(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(MARKER)
    except (OSError, UnicodeDecodeError):
        return False


def write_directory(rendering: Rendering, directory: Path) -> tuple[Path, ...]:
    """Writes one file per RenderedFile; removes stale files egressguard wrote before."""
    directory.mkdir(parents=True, exist_ok=True)
    names = {file.name for file in rendering.files}
    for stale in sorted(directory.glob("*.yaml")):
        if stale.name not in names and _written_by_us(stale):
            stale.unlink()
    written = []
    for file in rendering.files:
        path = directory / file.name
        path.write_text(file_text(rendering, file), encoding="utf-8")
        written.append(path)
    return tuple(written)
