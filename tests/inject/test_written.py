"""The README's table of what the injector writes equals what the corpus carries."""

from __future__ import annotations

import re
from pathlib import Path

from tests.inject.written import written

README = Path(__file__).with_name("README.md")


def recorded() -> dict[str, dict[str, set[str]]]:
    text = README.read_text()
    table = text.split("<!-- written:begin -->", 1)[1].split("<!-- written:end -->", 1)[0]
    rows: dict[str, dict[str, set[str]]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("istio-"):
            continue
        rows[cells[0]] = {"flags": set(re.findall(r"`([^`]+)`", cells[1])),
                          "env": set(re.findall(r"`([^`]+)`", cells[2]))}
    return rows


def test_readme_records_what_the_injector_writes() -> None:
    actual, readme = written(), recorded()
    assert sorted(actual) == sorted(readme), "mesh containers differ from README.md's table"
    for name in actual:
        for part in ("flags", "env"):
            new = actual[name][part] - readme[name][part]
            gone = readme[name][part] - actual[name][part]
            assert not new and not gone, (
                f"{name} {part}: the injector now writes {sorted(new)} and no longer "
                f"{sorted(gone)}; judge them in the engine's allow-list, then update README.md "
                "(python -m tests.inject.written)")
