"""Reading the webhook's audit log: which identity requested which host:port.

Each line of a pod or pod template carries ``namespace``, ``serviceAccount`` and
``requested``. A file may also hold the webhook's own operational lines (``kubectl logs``
mixes stderr in) and lines of other kinds; those are counted as ignored. A line that
should say who requested what and cannot be read — not JSON, a field of the wrong type, a
name that is no Kubernetes name, an entry that is not ``host:port`` — is skipped whole and
reported with its file and line: nothing is guessed from it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson

from webhook.engine import pods
from webhook.engine.entitlement import parse_requests
from webhook.engine.kinds import handler_for
from webhook.learn.observations import Need, Reading
from webhook.loader.names import dns_label_problem, dns_subdomain_problem

# The webhook's stderr lines in text form: "2026-12-04 16:12:35,123 INFO egressguard.x: ...".
_OPERATIONAL = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
OLD_LINE = ("a pod line without serviceAccount and requested, written by an egressguard "
            "that did not log them; run the newer version in warn mode and learn again")


def _is_pod_kind(group: str, kind: str) -> bool:
    handler = handler_for(group, kind)
    return handler is not None and handler.state in (pods.judge_pod, pods.judge_workload)


def _needs(entry: dict[str, Any]) -> list[Need] | str:
    """The needs one pod line states, or why it cannot be read."""
    namespace, account = entry.get("namespace"), entry.get("serviceAccount")
    requested = entry.get("requested")
    if account is None and requested is None:
        return OLD_LINE
    if requested is None:
        return "no requested field: written while the webhook had no rules loaded"
    if not isinstance(namespace, str) or not isinstance(account, str):
        return "namespace and serviceAccount must be strings"
    problem = (dns_label_problem(namespace, what="namespace")
               or dns_subdomain_problem(account, what="serviceAccount"))
    if problem:
        return problem
    if not isinstance(requested, list) or not all(isinstance(e, str) for e in requested):
        return "requested must be a list of host:port strings"
    needs = []
    for entry_text in requested:
        parsed = parse_requests(entry_text)
        if len(parsed.valid) != 1 or parsed.malformed or parsed.valid[0].entry != entry_text:
            return f"requested entry {entry_text[:80]!r} is not a normalised host:port"
        request = parsed.valid[0]
        needs.append(Need(namespace, account, request.host, request.port))
    return needs


def read_line(text: str, where: str, reading: Reading) -> None:
    """Adds what one audit-log line says to ``reading``."""
    reading.lines += 1
    stripped = text.strip()
    if not stripped:
        reading.ignored["blank lines"] += 1
        return
    if _OPERATIONAL.match(stripped):
        reading.ignored["the webhook's operational log lines"] += 1
        return
    try:
        entry = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        reading.skip(where, "not JSON, and not an operational log line")
        return
    if not isinstance(entry, dict):
        reading.skip(where, "JSON, but not an object")
        return
    if "webhook" not in entry and {"level", "message"} <= entry.keys():
        reading.ignored["the webhook's operational log lines"] += 1
        return
    kind, group, uid = entry.get("kind"), entry.get("group"), entry.get("uid")
    if not isinstance(kind, str) or not isinstance(group, str) or not isinstance(uid, str):
        reading.skip(where, "not an audit line: kind, group and uid must be "
                                              "strings")
        return
    if not _is_pod_kind(group, kind):
        reading.ignored["lines of other kinds than pods and pod templates"] += 1
        return
    needs = _needs(entry)
    if isinstance(needs, str):
        reading.skip(where, needs)
        return
    if not needs:
        reading.ignored["pods that requested nothing"] += 1
    omitted = entry.get("requestedOmitted")
    if isinstance(omitted, int) and omitted > 0:
        # The webhook keeps a line within one pipe write; the rest of the request was not
        # logged: run the pod again after splitting its request, or add those grants by hand.
        reading.ignored["requested entries the webhook left out of long lines"] += omitted
    for need in needs:
        reading.saw(need, where, request=uid)


def read_audit_log(name: str, lines: Iterable[str]) -> Reading:
    """Reads one audit log (``name`` labels its lines in reports)."""
    reading = Reading()
    for number, text in enumerate(lines, start=1):
        read_line(text, f"{name}:{number}", reading)
    return reading
