"""Turns findings into a Decision: modes, exceptions, trusted principals, UPDATE diffs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from webhook.model.decision import ALWAYS_ENFORCED, INFRASTRUCTURE_CODES, Decision, Violation
from webhook.model.rules import Mode, Policy, PolicyException

# Warnings are printed by kubectl one per line and read at a glance: each stays within 120
# characters, and all of them within the API server's 4096 bytes in total.
MAX_WARNING_LENGTH = 120
MAX_WARNINGS_BYTES = 4000
# A refusal's status message lists the violations; each stays readable on its own, and the
# whole message stays small whatever the object holds (the API server relays it verbatim).
MAX_MESSAGE_LENGTH = 300
MAX_MESSAGES_BYTES = 3000


@dataclass(frozen=True, slots=True)
class Judged:
    violations: tuple[Violation, ...]
    preexisting: tuple[Violation, ...] = ()
    service_account: str | None = None
    patch: tuple[dict[str, object], ...] = ()
    requested: tuple[str, ...] = ()


def applicable_exceptions(
    policy: Policy, namespace: str, service_account: str | None, now: datetime
) -> tuple[PolicyException, ...]:
    return tuple(
        exception
        for exception in policy.exceptions_for(namespace)
        if exception.active(now)
        and (exception.service_account is None or exception.service_account == service_account)
    )


def _waiver(violation: Violation, exceptions: Iterable[PolicyException]) -> PolicyException | None:
    if violation.code in ALWAYS_ENFORCED:
        return None
    return next((e for e in exceptions if violation.code.value in e.codes), None)


def shorten(text: str, limit: int = MAX_WARNING_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded(texts: Iterable[str], *, each: int, total: int, what: str) -> tuple[str, ...]:
    """Distinct ``texts``, each shortened to ``each`` characters, in at most ``total`` UTF-8
    bytes; past that, one last line says how many were left out."""
    distinct = list(dict.fromkeys(shorten(text, each) for text in texts))
    kept: list[str] = []
    used = 0
    for text in distinct:
        size = len(text.encode())
        if used + size > total - 40:  # room for the closing line below
            kept.append(f"{len(distinct) - len(kept)} more {what} not shown")
            break
        kept.append(text)
        used += size
    return tuple(kept)


def decide(
    judged: Judged,
    *,
    policy: Policy,
    mode: Mode,
    namespace: str,
    trusted: bool,
    now: datetime,
    notes: Iterable[str] = (),
) -> Decision:
    """The single place where violations become a verdict."""
    warnings = list(notes)
    exceptions = applicable_exceptions(policy, namespace, judged.service_account, now)

    counted: list[Violation] = []
    for violation in judged.violations:
        if trusted and (violation.infrastructure or violation.code in INFRASTRUCTURE_CODES):
            continue
        waiver = _waiver(violation, exceptions)
        if waiver is not None:
            warnings.append(
                f"{violation.code}: waived by exception {waiver.name} "
                f"(expires {waiver.expires.isoformat()})"
            )
            continue
        counted.append(violation)

    for violation in judged.preexisting:
        if trusted and (violation.infrastructure or violation.code in INFRASTRUCTURE_CODES):
            continue
        if mode is not Mode.OFF or violation.code in ALWAYS_ENFORCED:
            warnings.append(f"{violation.code} (already present, not refused): {violation.message}")

    refusing = [
        v for v in counted if mode is Mode.ENFORCE or v.code in ALWAYS_ENFORCED
    ]
    listed = [v for v in counted if mode is not Mode.OFF or v.code in ALWAYS_ENFORCED]
    allowed = not refusing
    if allowed:
        warnings.extend(f"{v.code}: {v.message}" for v in listed)
    codes = tuple(dict.fromkeys(v.code.value for v in listed))
    messages = bounded((f"[{v.code}] {v.message}" for v in listed), each=MAX_MESSAGE_LENGTH,
                       total=MAX_MESSAGES_BYTES, what="problems")
    return Decision(
        allowed=allowed,
        mode=mode,
        codes=codes,
        messages=messages,
        warnings=bounded(warnings, each=MAX_WARNING_LENGTH, total=MAX_WARNINGS_BYTES,
                         what="warnings"),
        patch=judged.patch if allowed else (),
        violations=tuple(listed),
        service_account=judged.service_account,
        requested=judged.requested if judged.service_account is not None else None,
    )
