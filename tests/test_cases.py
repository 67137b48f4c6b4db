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


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def collect() -> Iterator[Case]:
    for suite in sorted(CASES.glob("*/suite.yaml")):
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
    if case.patch is not None:
        assert list(decision.patch) == list(case.patch)
    if not decision.allowed:
        assert decision.patch == ()
        assert decision.messages, "a refusal must say why"


@pytest.mark.parametrize("case", [c for c in ALL_CASES if c.expect_allowed], ids=lambda c: c.id)
def test_mutate_then_evaluate_is_idempotent(case: Case) -> None:
    """Applying the patch and judging the result gives no new patch and the same verdict."""
    request = request_of(case)
    first = verdict_of(case, request).decision
    if not first.patch:
        return
    assert request.object is not None
    patched = jsonpatch.apply_patch(copy.deepcopy(request.object), list(first.patch))
    again = verdict_of(case, dataclasses.replace(request, object=patched))
    assert again.decision.patch == ()
    assert again.decision.allowed is first.allowed
    assert again.decision.codes == first.codes


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
