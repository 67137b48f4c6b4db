"""Problems found in a rules repository, as values.

A rules change is reviewed as a pull request, so the loader reports *every* problem with the
file and line to change, not just the first: one CI run should show the author all of them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong (or worth a second look) at ``path:line``.

    ``path`` is relative to the repository's parent as the user named it
    (``rules/destinations/github.yaml``); ``line`` is 1-based, 1 for problems with a file as
    a whole (its name, its place in the tree).
    """

    path: str
    line: int
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.severity.value}: {self.message}"


def sort_problems(problems: Iterable[Problem]) -> tuple[Problem, ...]:
    """By file, then line: the order a reviewer reads a diff in."""
    return tuple(sorted(problems, key=lambda p: (p.path, p.line, p.severity, p.message)))


class RulesError(Exception):
    """A rules repository that does not load; carries all its problems, warnings included."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sort_problems(problems)
        errors = self.errors
        first = str(errors[0]) if errors else "no errors"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"rules do not load: {first}{more}")

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)


@dataclass(slots=True)
class Problems:
    """Collects problems while a repository is read; one per loader run, never shared.

    ``notes`` are warnings for the people changing the rules (a grant without a reason, a
    wildcard destination): worth a comment on a pull request, not a line in the webhook's
    log at every reload, so they are kept apart from the other warnings.
    """

    found: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)

    def error(self, path: str, line: int, message: str) -> None:
        self.found.append(Problem(path, line, message, Severity.ERROR))

    def warning(self, path: str, line: int, message: str) -> None:
        self.found.append(Problem(path, line, message, Severity.WARNING))

    def note(self, path: str, line: int, message: str) -> None:
        self.notes.append(Problem(path, line, message, Severity.WARNING))

    @property
    def has_errors(self) -> bool:
        return any(p.severity is Severity.ERROR for p in self.found)
