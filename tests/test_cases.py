"""Every policy case under tests/cases, judged by the engine exactly as `validate` judges it."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from webhook.cli.validate import (
    Verdict,
    judge,
    namespace_labels_from_modes,
    request_for_document,
)
from webhook.loader import load_repository, read_documents
from webhook.model.decision import Code
from webhook.model.review import AdmissionRequest, UserInfo
from webhook.model.rules import Policy

CASES = Path(__file__).parent / "cases"
REPO = Path(__file__).parent.parent
DEFAULT_NOW = "2026-06-01T12:00:00Z"
DEVELOPER = "developer@example.com"


@dataclass(frozen=True)
class Case:
    suite: Path
    file: Path
    expect_allowed: bool
    codes: tuple[str, ...]
    rules: Path
    now: datetime
    user: str = DEVELOPER
    groups: tuple[str, ...] = ()
    namespace_modes: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    patch: tuple[dict[str, Any], ...] | None = None
    covers: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.suite.parent.name}/{self.file.relative_to(self.suite.parent)}"


SUITE_KEYS = frozenset({"rules", "now", "cases"})
CASE_KEYS = frozenset(
    {"file", "description", "codes", "user", "groups", "namespaceModes", "warnings", "patch",
     "covers", "now"}
)
REQUIRED_CASE_KEYS = ("file", "description")
SUITES = sorted(CASES.glob("*/suite.yaml"))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def suite_key_problems(suite: Path) -> list[str]:
    """Each key of ``suite`` this runner does not know, or a case's missing required key."""
    spec = yaml.safe_load(suite.read_text()) or {}
    if not isinstance(spec, dict):
        return [f"{suite}: a suite is a mapping with {sorted(SUITE_KEYS)}"]
    problems = [
        f"{suite}: unknown key {key!r}; known: {', '.join(sorted(SUITE_KEYS))}"
        for key in spec if key not in SUITE_KEYS
    ]
    for index, entry in enumerate(spec.get("cases") or []):
        where = f"{suite}: cases[{index}] ({entry.get('file', '?')})"
        problems += [
            f"{where}: unknown key {key!r}; known: {', '.join(sorted(CASE_KEYS))}"
            for key in entry if key not in CASE_KEYS
        ]
        problems += [f"{where}: missing {key!r}" for key in REQUIRED_CASE_KEYS if key not in entry]
    return problems


def collect() -> Iterator[Case]:
    for suite in SUITES:
        spec = yaml.safe_load(suite.read_text()) or {}
        rules = (suite.parent / spec["rules"]).resolve() if "rules" in spec else REPO / "rules"
        now = _time(str(spec.get("now", DEFAULT_NOW)))
        for entry in spec.get("cases", []):
            path = suite.parent / entry["file"]
            folder = Path(entry["file"]).parts[0]
            assert folder in ("allowed", "denied"), (
                f"{suite}: {entry['file']} not under allowed/ or denied/"
            )
            yield Case(
                suite=suite,
                file=path,
                expect_allowed=folder == "allowed",
                codes=tuple(entry.get("codes", [])),
                rules=rules,
                now=_time(str(entry["now"])) if "now" in entry else now,
                user=entry.get("user", DEVELOPER),
                groups=tuple(entry.get("groups", [])),
                namespace_modes=dict(entry.get("namespaceModes", {})),
                warnings=tuple(entry.get("warnings", [])),
                patch=tuple(entry["patch"]) if "patch" in entry else None,
                covers=tuple(entry.get("covers", [])),
            )


ALL_CASES = list(collect())


@cache
def policy_at(rules: Path) -> Policy:
    return load_repository(rules).policy


def request_of(case: Case) -> AdmissionRequest:
    documents = read_documents([str(case.file)])
    assert len(documents) == 1, f"{case.file}: one document per case file"
    return request_for_document(
        documents[0].body,
        user=UserInfo(username=case.user, groups=case.groups),
        default_namespace="default",
        uid="case",
    )


def verdict_of(case: Case, request: AdmissionRequest) -> Verdict:
    policy = policy_at(case.rules)
    labels = namespace_labels_from_modes(policy, case.namespace_modes)
    return judge(request, policy, now=case.now, namespace_labels=labels)


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.id)
def test_policy_case(case: Case) -> None:
    request = request_of(case)
    verdict = verdict_of(case, request)
    decision = verdict.decision
    detail = f"messages={decision.messages} warnings={decision.warnings}"
    assert decision.allowed is case.expect_allowed, detail
    assert sorted(decision.codes) == sorted(case.codes), detail
    for expected in case.warnings:
        assert any(expected in w for w in decision.warnings), f"{expected!r} not in {detail}"
    # No `patch:` key means the case expects no patch at all.
    assert list(decision.patch) == list(case.patch or ()), detail
    if not decision.allowed:
        assert decision.patch == ()
        assert decision.messages, "a refusal must say why"


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.expect_allowed], ids=lambda c: c.id)
def test_mutate_then_evaluate_is_idempotent(case: Case) -> None:
    """Applying the patch (none, for most cases) and judging the result gives no new patch
    and the same verdict; a DELETE, with no object to patch, gets none and is judged alike."""
    request = request_of(case)
    first = verdict_of(case, request).decision
    if request.object is None:
        assert first.patch == (), "a request without an object cannot be patched"
        again_request = request
    else:
        patched = jsonpatch.apply_patch(copy.deepcopy(request.object), list(first.patch))
        again_request = dataclasses.replace(request, object=patched)
    again = verdict_of(case, again_request)
    assert again.decision.patch == ()
    assert again.decision.allowed is first.allowed
    assert again.decision.codes == first.codes


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.parent.name)
def test_suite_uses_only_known_keys(suite: Path) -> None:
    """A misspelt key (``code:``, ``pach:``) would silently drop an expectation."""
    assert not suite_key_problems(suite), "\n".join(suite_key_problems(suite))


def test_a_misspelt_key_is_reported_naming_file_and_key(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "now: '2026-06-01T12:00:00Z'\nrule: x\ncases:\n"
        "  - {file: allowed/a.yaml, description: d, code: [x]}\n  - {file: denied/b.yaml}\n"
    )
    assert suite_key_problems(suite) == [
        f"{suite}: unknown key 'rule'; known: cases, now, rules",
        f"{suite}: cases[0] (allowed/a.yaml): unknown key 'code'; known: "
        + ", ".join(sorted(CASE_KEYS)),
        f"{suite}: cases[1] (denied/b.yaml): missing 'description'",
    ]


def test_every_code_has_a_denied_and_an_allowed_case() -> None:
    denied: dict[str, set[str]] = {}
    allowed_folders: set[str] = set()
    explicit_allowed: set[str] = set()
    for case in ALL_CASES:
        folder = case.suite.parent.name
        if case.expect_allowed:
            allowed_folders.add(folder)
            explicit_allowed.update(case.covers)
            explicit_allowed.update(case.codes)
        else:
            for code in case.codes:
                denied.setdefault(code, set()).add(folder)
    missing_denied = [c.value for c in Code if c.value not in denied]
    missing_allowed = [
        c.value
        for c in Code
        if c.value not in explicit_allowed and not (denied.get(c.value, set()) & allowed_folders)
    ]
    assert not missing_denied, f"codes without a denied case: {missing_denied}"
    assert not missing_allowed, f"codes without an allowed case: {missing_allowed}"
