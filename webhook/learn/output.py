"""Writing a proposal: a copy of the rules repository with the proposed files, never the
live repository.

``--out`` must be outside ``--rules`` (and not contain it), and either empty or missing, or
a previous learn output (it holds the :data:`MARKER` file learn writes): only then is its
content replaced. The copy leaves out dotfiles (``.git``, a mounted ConfigMap's ``..data``)
as the loader does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from webhook.learn.proposal import NewDestination, NewGrant, Proposal
from webhook.model.rules import API_VERSION, Port
from webhook.render.yamltext import yaml_text
from webhook.syntax.yamlstrict import YamlError, decode_text, parse_yaml

MARKER = ".egressguard-learn"
MARKER_TEXT = ("This folder was written by egressguard learn: a proposed copy of a rules "
               "repository. Running learn again with --out here replaces its content.\n")


class OutError(Exception):
    """``--out`` cannot be written as asked; the message says why and what to do."""


def check_out(rules: Path, out: Path) -> None:
    """Refuses an ``--out`` that is, or is inside, or contains the rules, or holds other files."""
    live, target = rules.resolve(), out.resolve()
    if target == live or live in target.parents:
        raise OutError(f"--out {out} is inside the rules repository {rules}: learn never "
                       "writes the live repository; choose a folder outside it")
    if target in live.parents:
        raise OutError(f"--out {out} contains the rules repository {rules}; choose a folder "
                       "outside it")
    if target.exists() and not target.is_dir():
        raise OutError(f"--out {out} is a file; give a folder")
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).is_file():
        raise OutError(f"--out {out} is not empty and is not an earlier learn output; give an "
                       "empty or new folder")


def _destination_document(new: NewDestination) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Destination",
        "metadata": {"name": new.name},
        "spec": {
            "description": new.description,
            "hosts": [new.host],
            "ports": [{"number": p.number, "protocol": p.protocol} for p in new.ports],
        },
    }


def _controlled_comment(what: NewDestination | NewGrant) -> str:
    if what.controlled is None:
        return ""
    return (f"# {what.controlled.host} gives an attacker control ({what.controlled.reason}).\n"
            "# Grant it only to the service accounts that need it.\n")


def _add_ports(path: Path, ports: list[Port]) -> None:
    """Lists ``ports`` in the destination file at ``path`` (written again, comments lost)."""
    try:
        (document,) = [d for d in parse_yaml(decode_text(path.read_bytes())) if d.value]
    except (YamlError, ValueError) as error:
        raise OutError(f"{path}: cannot add ports to this destination: {error}") from None
    spec = document.value["spec"]
    spec["ports"] = [*spec["ports"], *({"number": p.number, "protocol": p.protocol}
                                       for p in ports)]
    listed = ", ".join(f"{p.number}/{p.protocol}" for p in ports)
    path.write_text(f"# Ports {listed} proposed by egressguard learn.\n"
                    + yaml_text(document.value))


def write_proposal(rules: Path, out: Path, proposal: Proposal) -> list[str]:
    """Copies ``rules`` to ``out`` and writes the proposal there; returns the files written
    or changed, relative to ``out``."""
    check_out(rules, out)
    out.mkdir(parents=True, exist_ok=True)
    for child in out.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    # Marked before anything else is written: a run that fails half-way can be run again.
    (out / MARKER).write_text(MARKER_TEXT)
    shutil.copytree(rules, out, dirs_exist_ok=True,
                    ignore=lambda _, names: [n for n in names if n.startswith(".")])
    written = []
    for new in proposal.destinations:
        target = out / new.file
        if target.exists():
            raise OutError(f"{target} exists already; cannot propose destination {new.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_controlled_comment(new) + yaml_text(_destination_document(new)))
        written.append(new.file)
    for name, ports in proposal.ports_added.items():
        rel = f"destinations/{name}.yaml"
        _add_ports(out / rel, ports)
        written.append(rel)
    for grant in proposal.grants:
        target = out / grant.file
        if target.exists():
            raise OutError(f"{target} exists already; cannot propose it again")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_controlled_comment(grant) + yaml_text({"reason": grant.reason}))
        written.append(grant.file)
    return written
