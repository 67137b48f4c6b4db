"""``destinations/<name>.yaml``: the hosts and ports the security team opens, and through
which gateway.

Checks that need one file are made as each is read; the one that needs them all (a host in
two destinations) is made afterwards, naming both files, so that no host ever has two
possible labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webhook.loader.names import host_pattern_problem
from webhook.loader.problems import Problems
from webhook.loader.schema import file_name_problem, header_problems, schema_problems
from webhook.model.hosts import is_wildcard, normalize_host, wildcard_suffix
from webhook.model.rules import Access, Config, Destination, Port, Source
from webhook.syntax.yamlstrict import LocatedDocument

FOLDER = "destinations/"


@dataclass(frozen=True, slots=True)
class LoadedDestination:
    """A destination and the lines of its hosts, for messages that point at one host."""

    destination: Destination
    host_lines: tuple[int, ...]


def _gateway(
    spec: dict[str, Any],
    doc: LocatedDocument,
    config: Config | None,
    *,
    path: str,
    problems: Problems,
) -> str | None:
    wanted = spec.get("gateway")
    if config is None:  # config.yaml does not load; its own errors say why
        return str(wanted or "")
    names = [gateway.name for gateway in config.gateways]
    if wanted is None:
        return names[0] if names else ""
    if wanted in names:
        return str(wanted)
    where = (
        f"config.yaml defines {', '.join(names)}"
        if names
        else "config.yaml defines no gateways; add it to spec.gateways there"
    )
    problems.error(
        path,
        doc.line_of(("spec", "gateway")),
        f"spec.gateway: {wanted!r} is not a configured gateway; {where}",
    )
    return None


def _wildcard_note(host: str) -> str:
    suffix = wildcard_suffix(host)
    if suffix.count(".") == 1:
        return f"{host!r} covers a whole top-level domain; list the hosts instead"
    return (
        f"{host!r} is a wildcard: every name ending in {suffix}, including ones created "
        f"later, goes through this destination; list the hosts if you can"
    )


def _hosts(
    spec: dict[str, Any], doc: LocatedDocument, *, path: str, problems: Problems
) -> tuple[list[str], list[int]] | None:
    hosts: list[str] = []
    lines: list[int] = []
    ok = True
    for index, written in enumerate(spec["hosts"]):
        line = doc.line_of(("spec", "hosts", index))
        host = normalize_host(written)
        problem = host_pattern_problem(host)
        if problem is not None:
            problems.error(path, line, f"spec.hosts[{index}]: {problem}")
            ok = False
        elif host in hosts:
            problems.warning(path, line, f"spec.hosts[{index}]: {host!r} is listed twice")
        else:
            if is_wildcard(host):
                problems.note(path, line, f"spec.hosts[{index}]: {_wildcard_note(host)}")
            hosts.append(host)
            lines.append(line)
    return (hosts, lines) if ok else None


def _ports(
    spec: dict[str, Any], doc: LocatedDocument, *, path: str, problems: Problems
) -> list[Port] | None:
    ports: list[Port] = []
    ok = True
    for index, item in enumerate(spec["ports"]):
        number = int(item["number"])
        if any(port.number == number for port in ports):
            problems.error(
                path,
                doc.line_of(("spec", "ports", index)),
                f"spec.ports[{index}]: port {number} is listed twice; list each port once",
            )
            ok = False
        ports.append(Port(number, str(item["protocol"])))
    return ports if ok else None


def build_destination(
    doc: LocatedDocument, *, path: str, stem: str, config: Config | None, problems: Problems
) -> LoadedDestination | None:
    """The Destination in ``doc``, or ``None`` after reporting why it is not one.

    ``config`` is ``None`` when config.yaml does not load: gateway names go unchecked then.
    """
    found = header_problems(doc, "Destination", folder=FOLDER)
    found = found or schema_problems(doc, "Destination")
    for line, message in found:
        problems.error(path, line, message)
    if found:
        return None
    name = str(doc.value["metadata"]["name"])
    spec: dict[str, Any] = doc.value["spec"]
    misnamed = file_name_problem(doc, folder=FOLDER, stem=stem, what="a destination")
    if misnamed is not None:
        problems.error(path, *misnamed)
    ok = misnamed is None
    gateway = _gateway(spec, doc, config, path=path, problems=problems)
    hosts = _hosts(spec, doc, path=path, problems=problems)
    ports = _ports(spec, doc, path=path, problems=problems)
    if not ok or gateway is None or hosts is None or ports is None:
        return None
    host_names, host_lines = hosts
    dlp = spec.get("dlp") or {}
    destination = Destination(
        name=name,
        hosts=tuple(host_names),
        ports=tuple(ports),
        gateway=gateway,
        access=Access(spec.get("access", Access.RESTRICTED.value)),
        description=str(spec.get("description", "")),
        tls_origination=bool(spec.get("tlsOrigination", False)),
        block_body_patterns=tuple(dlp.get("blockBodyPatterns", ())),
        source=Source(path, doc.line),
    )
    return LoadedDestination(destination, tuple(host_lines))


def check_unique_hosts(loaded: list[LoadedDestination], *, problems: Problems) -> bool:
    """A host (or wildcard) in two destinations would have two labels: refuse it."""
    owner: dict[str, tuple[Destination, int]] = {}
    ok = True
    for item in loaded:
        for host, line in zip(item.destination.hosts, item.host_lines, strict=True):
            first = owner.get(host)
            if first is None:
                owner[host] = (item.destination, line)
                continue
            other, other_line = first
            problems.error(
                item.destination.source.path,
                line,
                f"host {host!r} is also in destination {other.name!r} "
                f"({other.source.path}:{other_line}); a host belongs to one destination, "
                f"so remove it from one of them",
            )
            ok = False
    return ok
