"""``services/<namespace>/<serviceaccount>/<host>:<port>.rule``: the grants service teams add.

A large cluster has tens of thousands of these, nearly all empty or two plain lines, so the
common shapes are read without a YAML parser: an empty file needs no parse, and a file of
``reason:`` and ``expires:`` lines whose values YAML would read as exactly the same text or
date takes a strict fast path. Anything else (quotes, comments, odd characters, a value YAML
would read as a boolean or number) goes through the full YAML reader, so the two paths can
never disagree about a file's meaning.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime

from webhook.loader.names import host_pattern_problem
from webhook.loader.problems import Problems
from webhook.loader.schema import describe_value, did_you_mean
from webhook.model.hosts import HostIndex, is_wildcard, normalize_host
from webhook.model.rules import Destination, Grant
from webhook.syntax.yamlstrict import YamlError, decode_text, parse_yaml, plain_reads_as_text

SUFFIX = ".rule"
FIELDS = ("reason", "expires")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FAST_LINE = re.compile(r"(reason|expires): (\S.*)")
# A plain scalar of these characters, not starting with a YAML indicator, with no ':' or
# '#', reads as itself, unless YAML resolves it to another type (checked separately).
_FAST_REASON = re.compile(r"[A-Za-z0-9(][A-Za-z0-9 .,;()/_+'=@&!?-]*")
# ` #x` after an unquoted reason: the start of a comment, which a person rarely means.
_HASH_IN_REASON = re.compile(r"\s*reason:[ \t]+[^'\"|>\s#][^#]*?\s#\S")

GrantFields = tuple[str, date | None]


@functools.lru_cache(maxsize=65536)  # the same few names recur in many folders
def parse_grant_name(file_name: str) -> tuple[str, int] | str:
    """``github.com:443.rule`` -> ``("github.com", 443)``, or why the name is not a grant."""
    stem = file_name[: -len(SUFFIX)]
    host, colon, port_text = stem.rpartition(":")
    if not colon or not host:
        return f"a grant file is named <host>:<port>{SUFFIX}, such as github.com:443{SUFFIX}"
    if not _PORT.fullmatch(port_text) or int(port_text) > 65535:
        return f"{port_text!r} is not a port: write a number from 1 to 65535"
    host = normalize_host(host)
    if is_wildcard(host) or "*" in host:
        return (
            f"{host!r} is a wildcard; a grant names one concrete host, such as "
            f"{host.replace('*', 'api', 1)}:{port_text}{SUFFIX}"
        )
    problem = host_pattern_problem(host)
    if problem is not None:
        return problem
    return host, int(port_text)


def _fast_fields(data: bytes) -> GrantFields | None:
    """The fields of a plain two-line file, or ``None`` when YAML must decide."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    reason: str | None = None
    expires: date | None = None
    for line in lines:
        match = _FAST_LINE.fullmatch(line)
        if match is None:
            return None
        key, value = match.groups()
        if key == "reason":
            if (
                reason is not None
                or value[-1] == " "
                or not _FAST_REASON.fullmatch(value)
                or not plain_reads_as_text(value)
            ):
                return None
            reason = value
        else:
            if expires is not None or not _DATE.fullmatch(value):
                return None
            try:
                expires = date.fromisoformat(value)
            except ValueError:
                return None
    return reason or "", expires


def _expiry(value: object) -> date | None:
    if isinstance(value, datetime):
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _yaml_fields(data: bytes, *, path: str, problems: Problems) -> GrantFields | None:
    try:
        text = decode_text(data)
        documents = [doc for doc in parse_yaml(text) if doc.value is not None]
    except YamlError as error:
        problems.error(path, error.line, error.message)
        return None
    if not documents:
        return "", None
    if len(documents) > 1:
        problems.error(path, documents[1].line, "a grant file holds at most one YAML document")
        return None
    doc = documents[0]
    if not isinstance(doc.value, dict):
        problems.error(
            path,
            doc.line,
            "a grant file is empty or holds 'reason: <text>' and 'expires: YYYY-MM-DD'",
        )
        return None
    ok = True
    for key in doc.value:
        if key not in FIELDS:
            problems.error(
                path,
                doc.line_of((key,)),
                f"unknown field {key!r}{did_you_mean(key, FIELDS)}; a grant may hold only "
                f"reason and expires",
            )
            ok = False
    for key in FIELDS:
        if key in doc.value and doc.value[key] is None:
            problems.error(
                path, doc.line_of((key,)), f"{key} is empty; write a value or remove the line"
            )
            ok = False
    reason = doc.value.get("reason")
    reason = "" if reason is None else reason
    if not isinstance(reason, str):
        problems.error(
            path,
            doc.line_of(("reason",)),
            f"reason: expected text, got {describe_value(reason)}; quote it",
        )
        ok = False
    else:
        line = doc.line_of(("reason",))
        if _HASH_IN_REASON.match(text.splitlines()[line - 1]):
            problems.warning(
                path,
                line,
                f"reason: ' #' starts a YAML comment, so the reason reads {reason!r}; quote "
                f"the whole reason if the rest belongs to it",
            )
    expires = doc.value.get("expires")
    expiry = None if expires is None else _expiry(expires)
    if expires is not None and expiry is None:
        problems.error(
            path,
            doc.line_of(("expires",)),
            f"expires: {expires!s} is not a date written YYYY-MM-DD, such as 2027-03-31",
        )
        ok = False
    return (reason, expiry) if ok and isinstance(reason, str) else None


def read_grant_fields(data: bytes, *, path: str, problems: Problems) -> GrantFields | None:
    """The ``(reason, expires)`` of a grant file's content, or ``None`` after reporting."""
    if not data.strip(b" \n"):
        return "", None
    fast = _fast_fields(data)
    if fast is not None:
        return fast
    return _yaml_fields(data, path=path, problems=problems)


def resolve_destination(host: str, port: int, hosts: HostIndex[Destination]) -> Destination | str:
    """The destination a grant of ``host:port`` is for, or why there is none.

    The most specific destination covering the host decides, as for a pod's request: a grant
    never reaches past it to a broader wildcard that happens to list the port.
    """
    destination = hosts.lookup(host)
    if destination is None:
        return (
            f"no destination covers {host!r}: the security team must first add a "
            f"Destination (destinations/<name>.yaml) listing {host} and port {port}"
        )
    if not destination.lists_port(port):
        listed = ", ".join(str(p.number) for p in destination.ports)
        return (
            f"destination {destination.name!r} ({destination.source.path}) covers {host!r} "
            f"but does not list port {port}, only {listed}: grant a listed port, or the "
            f"security team must add port {port} to {destination.source.path}"
        )
    return destination


def build_grant(
    *,
    path: str,
    root: str,
    namespace: str,
    service_account: str,
    file_name: str,
    data: bytes,
    hosts: HostIndex[Destination] | None,
    problems: Problems,
) -> Grant | None:
    """The grant one file makes, or ``None`` after reporting why it makes none.

    ``hosts`` is ``None`` when some destination does not load: the file is checked on its
    own then, and makes no grant.
    """
    parsed = parse_grant_name(file_name)
    if isinstance(parsed, str):
        problems.error(path, 1, f"{file_name}: {parsed}")
        return None
    host, port = parsed
    canonical = f"{host}:{port}{SUFFIX}"
    if canonical != file_name:
        problems.warning(path, 1, f"write the host as matched, lower case: rename to {canonical}")
    fields = read_grant_fields(data, path=path, problems=problems)
    if hosts is None:
        return None
    destination = resolve_destination(host, port, hosts)
    if isinstance(destination, str):
        problems.error(path, 1, destination)
        return None
    if fields is None:
        return None
    reason, expires = fields
    return Grant(
        namespace=namespace,
        service_account=service_account,
        host=host,
        port=port,
        destination=destination.name,
        reason=reason,
        expires=expires,
        root=root,
        file_name="" if canonical == file_name else file_name,
    )
