"""A :class:`PolicyDiff` as Markdown for a pull request comment.

Read top-down by a busy reviewer: a one-line verdict, the risk flags, then the table of who
gains or loses what and why, then the rules changes behind it. The first line is a hidden
marker, so a CI job can find and update its own comment instead of adding one per push.
"""

from __future__ import annotations

from datetime import UTC

from webhook.model.rules import Grant
from webhook.review import wording
from webhook.review.access_changes import AccessChange, Direction
from webhook.review.destinations import DestinationChange
from webhook.review.diff import PolicyDiff
from webhook.review.grant_files import GrantChange
from webhook.review.risks import RiskFlag, risk_flags
from webhook.review.waivers import ExceptionChange

MARKER = "<!-- egressguard-diff -->"
# GitHub refuses comments over 65536 characters; a change this large is read with -o json.
MAX_ROWS = 300


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _count_verb(count: int, verb: str) -> str:
    """``1 identity gains access``, ``2 identities gain access``."""
    who = wording.plural(count, "identity", "identities")
    return f"{who} {verb}{'s' if count == 1 else ''} access"


def summary(diff: PolicyDiff) -> str:
    """One line: does access widen, for how many, and how many flags."""
    if diff.unchanged:
        return "**No change** to effective access, destinations, gateways, exceptions or config."
    gains = diff.principals(Direction.GAINS)
    losses = diff.principals(Direction.LOSES)
    parts = []
    identities = [p for p in gains if not p.is_everyone]
    if identities:
        parts.append(_count_verb(len(identities), "gain"))
    if any(p.is_everyone for p in gains):
        parts.append("any pod that requests it gains access")
    lost = [p for p in losses if not p.is_everyone]
    if lost:
        parts.append(_count_verb(len(lost), "lose"))
    if any(p.is_everyone for p in losses):
        parts.append("open access shrinks")
    flags = risk_flags(diff)
    if flags:
        parts.append(wording.plural(len(flags), "risk flag"))
    if diff.widens:
        verdict = "**Access widens**"
    elif losses:
        verdict = "**Access narrows**"
    else:
        verdict = "**No change in effective access**"
    return f"{verdict}: {'; '.join(parts)}." if parts else f"{verdict}."


def _flags(flags: tuple[RiskFlag, ...]) -> list[str]:
    if not flags:
        return []
    lines = ["**Risk flags**", ""]
    lines.extend(f"- **{flag.kind.value}**: {_cell(flag.message)}" for flag in flags)
    return [*lines, ""]


def _access_row(change: AccessChange) -> str:
    who = (
        _cell(str(change.principal))
        if change.principal.is_everyone
        else _code(str(change.principal))
    )
    reaches = ", ".join(_code(str(r)) for r in change.reaches)
    return (
        f"| {who} | {change.direction.value} | {_code(change.destination)} | {reaches} "
        f"| {_cell(change.why)} |"
    )


def _access(changes: tuple[AccessChange, ...]) -> list[str]:
    if not changes:
        return ["No identity gains or loses access.", ""]
    lines = [
        "| who | change | destination | host:port | why |",
        "|---|---|---|---|---|",
    ]
    lines.extend(_access_row(c) for c in changes[:MAX_ROWS])
    if len(changes) > MAX_ROWS:
        lines.append(
            f"| … | | | | {len(changes) - MAX_ROWS} more rows: run `egressguard diff "
            "-o json` |"
        )
    return [*lines, ""]


def _destination(change: DestinationChange) -> str:
    name = _code(change.name)
    if change.before is None and change.after is not None:
        after = change.after
        return (
            f"{name} added ({after.access.value}, gateway {after.gateway}): "
            f"{_cell(wording.endpoints(after))}"
        )
    if change.after is None:
        who = ", ".join(_code(str(p)) for p in change.grantees_before) or "no identity"
        return f"{name} removed; it was granted to {who}"
    parts = []
    if change.hosts_added or change.hosts_removed:
        hosts = [f"+{h}" for h in change.hosts_added] + [f"-{h}" for h in change.hosts_removed]
        parts.append(f"hosts {' '.join(_code(h) for h in hosts)}")
    if change.ports_added or change.ports_removed:
        ports = [f"+{p.number}/{p.protocol}" for p in change.ports_added]
        ports += [f"-{p.number}/{p.protocol}" for p in change.ports_removed]
        parts.append(f"ports {' '.join(_code(p) for p in ports)}")
    parts.extend(f"port {n}: {old} -> {new}" for n, old, new in change.protocols_changed)
    if change.access_before is not change.access_after and change.access_after is not None:
        parts.append(f"access {change.access_before} -> {change.access_after}")
    if change.gateway_moved:
        parts.append(f"gateway {change.gateway_moved[0]} -> {change.gateway_moved[1]}")
    if change.dlp_patterns_removed:
        parts.append(f"DLP patterns removed: {len(change.dlp_patterns_removed)}")
    if change.tls_origination_changed:
        parts.append(f"tlsOrigination {'on' if change.tls_origination_changed[1] else 'off'}")
    if change.before is not None and change.after is not None:
        added = set(change.after.block_body_patterns) - set(change.before.block_body_patterns)
        if added:
            parts.append(f"DLP patterns added: {len(added)}")
    affected = ", ".join(_code(str(p)) for p in change.affected) or "no identity"
    return f"{name}: {'; '.join(parts)}; granted to {affected}"


def _exception(change: ExceptionChange) -> str:
    name = _code(change.name)
    if change.after is None:
        assert change.before is not None
        return f"{name} removed: it {_cell(wording.waiver(change.before, past=True))}"
    kind = "added" if change.before is None else "changed"
    state = "" if change.active_after else " (already expired: waives nothing)"
    was = f" (was: {wording.waiver(change.before)})" if change.before is not None else ""
    reason = f" — {change.after.reason}" if change.after.reason else ""
    return f"{name} {kind}: {_cell(wording.waiver(change.after) + state + was + reason)}"


def _grant_was(old: Grant, new: Grant) -> str:
    """What an edited grant file said before, in the fields that changed."""
    parts = []
    if old.destination != new.destination:
        parts.append(f"for {old.destination}")
    if old.expires != new.expires:
        parts.append(f"expires {old.expires}" if old.expires else "no expiry")
    if old.reason != new.reason:
        parts.append(f"reason {old.reason!r}" if old.reason else "no reason")
    return ", ".join(parts)


def _grant(change: GrantChange) -> str:
    grant = change.after or change.before
    assert grant is not None
    if change.after is None:
        state = ""
    elif not change.active_after:
        state = f" — expired {change.after.expires}: grants nothing"
    elif change.after.expires:
        state = f" — expires {change.after.expires}"
    else:
        state = ""
    if change.before is not None and change.after is not None:
        state += f" (was: {_grant_was(change.before, change.after)})"
    reason = f": {_cell(grant.reason)}" if grant.reason else ""
    return f"{change.kind} {_code(change.file)} ({grant.destination}){state}{reason}"


def _section(title: str, items: list[str]) -> list[str]:
    return [f"#### {title}", "", *(f"- {item}" for item in items), ""] if items else []


def render_markdown(diff: PolicyDiff, *, base: str, head: str) -> str:
    """The PR comment for the change from ``base`` to ``head`` (labels as the user gave them)."""
    when = diff.now.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        MARKER,
        f"### egressguard: {_code(base)} → {_code(head)}",
        "",
        summary(diff),
        "",
    ]
    if diff.unchanged:
        return "\n".join(lines)  # ends with the empty line: one trailing newline
    lines += _flags(risk_flags(diff))
    lines += ["#### Access", "", *_access(diff.access)]
    lines += _section("Destinations", [_destination(c) for c in diff.destinations])
    lines += _section(
        "Gateways",
        [
            f"{_code(g.name)}: "
            + wording.gateway_change(
                g.before, g.after, default_before=g.default_before, default_after=g.default_after
            )
            for g in diff.gateways
        ],
    )
    lines += _section("Exceptions", [_exception(c) for c in diff.exceptions])
    lines += _section("Grant files", [_grant(c) for c in diff.grants])
    lines += _section("config.yaml", [_cell(s.describe()) for s in diff.settings])
    lines.append(f"<sub>Effective access at {when}: grants expired by then count as none.</sub>")
    return "\n".join(lines) + "\n"
