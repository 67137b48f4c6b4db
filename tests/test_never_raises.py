"""The engine never raises, whatever JSON an attacker sends (RELIABILITY 25).

A check reached only through a particular field (an annotation key, a mesh flag, a nested
proxy setting) is never exercised by objects built from a short list of names. So the
fuzzing starts from what the engine reads: the policy cases under tests/cases hold every
shape the checks judge, and the names come from every key of those cases and every string
the engine's source spells out (field names, annotation and label keys, enum values).

* **Every field, every type.** Each distinct field of the cases (by kind and path, list
  indexes alike) in turn holds a value of each JSON type, or is left out.
* **Mutated cases.** A field drawn from those, and then up to three more anywhere in the
  object, replaced by any JSON value built from the names, given a new field, or removed;
  a CREATE may also become an UPDATE from a differently mutated old object.
* **Free objects** of every kind the engine judges, nested from those names.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import admission
from tests.test_cases import ALL_CASES, REPO, Case, policy_at, request_of
from webhook.engine import evaluate
from webhook.engine.kinds import judged_kinds
from webhook.model.review import AdmissionRequest, UserInfo

ENGINE = REPO / "webhook" / "engine"
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
# A name the engine could read: identifiers, and keys like sidecar.istio.io/inject.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/]{0,62}")
ROUNDS = settings(max_examples=400, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
Path_ = tuple[str | int, ...]


def _walk(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


@cache
def case_requests() -> tuple[tuple[Case, AdmissionRequest], ...]:
    return tuple((case, request_of(case)) for case in ALL_CASES)


@dataclasses.dataclass(frozen=True)
class Field:
    """One distinct field of the cases: where it first occurs."""

    case: Case
    request: AdmissionRequest
    old: bool  # in the old object rather than the object
    path: Path_


@cache
def distinct_fields() -> tuple[Field, ...]:
    """The first occurrence of each field, by rules, kind and path (list indexes alike)."""
    found: dict[tuple[Any, ...], Field] = {}
    for case, request in case_requests():
        for old, obj in ((False, request.object), (True, request.old_object)):
            for path, _ in _walk(obj) if obj is not None else ():
                shape = tuple("[]" if isinstance(step, int) else step for step in path)
                if path:
                    found.setdefault((case.rules, request.kind.kind, old, shape),
                                     Field(case, request, old, path))
    return tuple(found.values())


@cache
def engine_strings() -> frozenset[str]:
    """Every string constant of the engine's source that could name a field or a value."""
    found = set()
    for source in ENGINE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and NAME.fullmatch(node.value):
                found.add(node.value)
    return frozenset(found)


@cache
def field_names() -> tuple[str, ...]:
    """The keys of every case's objects, and the engine's own strings."""
    keys = {key for _, request in case_requests()
            for obj in (request.object, request.old_object) if obj is not None
            for path, _ in _walk(obj) if path and isinstance(path[-1], str)
            for key in (path[-1],)}
    return tuple(sorted(keys | engine_strings()))


@cache
def words() -> tuple[str, ...]:
    """The string values of every case's objects, and the engine's own strings."""
    values = {value for _, request in case_requests()
              for obj in (request.object, request.old_object) if obj is not None
              for _, value in _walk(obj) if isinstance(value, str) and len(value) < 200}
    return tuple(sorted(values | engine_strings()))


@cache
def json_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats()
        | st.sampled_from(words()) | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(field_names()) | st.text(max_size=6), inner,
                          max_size=4),
        max_leaves=12,
    )


CHANGES = st.sampled_from(["replace", "add", "remove"])


@dataclasses.dataclass(frozen=True)
class Strategies:
    """The strategies drawn from inside tests, built once: each new strategy object is
    validated and labelled again on its first draw of every example."""

    field: st.SearchStrategy[str]
    distinct_field: st.SearchStrategy[Field]
    objects: st.SearchStrategy[dict[str, Any]]
    labels: st.SearchStrategy[dict[str, str] | None]


@cache
def strategies() -> Strategies:
    fields = st.sampled_from(field_names())
    return Strategies(
        field=fields,
        distinct_field=st.sampled_from(distinct_fields()),
        objects=st.dictionaries(fields, json_values(), max_size=5),
        labels=st.none() | st.dictionaries(fields, st.sampled_from(words()), max_size=3),
    )


def _change(data: st.DataObject, obj: dict[str, Any], path: Path_) -> None:
    """Replaces, removes or adds to the value at ``path`` of ``obj`` (in place)."""
    parent: Any = obj
    for step in path[:-1]:
        parent = parent[step]
    value = parent[path[-1]]
    change = data.draw(CHANGES, label="change")
    if change == "replace":
        parent[path[-1]] = data.draw(json_values(), label="value")
    elif change == "add" and isinstance(value, dict):
        value[data.draw(strategies().field, label="field")] = \
            data.draw(json_values(), label="value")
    elif change == "add" and isinstance(value, list):
        value.append(data.draw(json_values(), label="value"))
    else:
        del parent[path[-1]]


def _mutated(data: st.DataObject, obj: dict[str, Any], at: Path_ = ()) -> dict[str, Any]:
    """A copy of ``obj`` changed at ``at`` (when given) and at up to three nodes more."""
    obj = copy.deepcopy(obj)
    if at:
        _change(data, obj, at)
    for _ in range(data.draw(st.integers(0 if at else 1, 3), label="more changes")):
        nodes = [path for path, _ in _walk(obj) if path]
        if not nodes:
            break
        # An index rather than sampled_from(nodes): a strategy built for each draw is
        # validated and labelled (its paths hashed) each time, most of this test's time.
        _change(data, obj, nodes[data.draw(st.integers(0, len(nodes) - 1), label="at")])
    return obj


def _judge(case: Case, request: AdmissionRequest, **kwargs: Any) -> None:
    decision = evaluate(request, policy_at(case.rules), now=case.now, **kwargs)
    assert decision.allowed or decision.codes


WRONG_TYPES: tuple[Any, ...] = (None, True, 0, -1, 1.5, "", "x", [], [None], {}, {"": ""})
LEFT_OUT = object()
# Crashes found and not yet fixed, by the field's last two names and the value's type.
# test_known_crashes_are_still_there fails once one is fixed, to empty this list.
KNOWN_CRASHES: frozenset[tuple[str, str]] = frozenset()


def _with(field: Field, value: Any) -> AdmissionRequest:
    """The field's request with ``value`` at the field (LEFT_OUT: without it)."""
    original = field.request.old_object if field.old else field.request.object
    assert original is not None
    obj = copy.deepcopy(original)
    parent: Any = obj
    for step in field.path[:-1]:
        parent = parent[step]
    if value is LEFT_OUT:
        del parent[field.path[-1]]
    else:
        parent[field.path[-1]] = copy.deepcopy(value)
    return dataclasses.replace(field.request, **{"old_object" if field.old else "object": obj})


def _known(field: Field, value: Any) -> bool:
    names = ".".join(str(step) for step in field.path[-2:])
    return (names, type(value).__name__) in KNOWN_CRASHES


def test_every_field_of_every_case_may_hold_any_type() -> None:
    for field in distinct_fields():
        for value in (*WRONG_TYPES, LEFT_OUT):
            if _known(field, value):
                continue
            try:
                _judge(field.case, _with(field, value), namespace_labels={})
            except Exception as error:
                where = ".".join(str(step) for step in field.path)
                shown = "left out" if value is LEFT_OUT else repr(value)
                raise AssertionError(f"{field.case.id}: {where} = {shown}") from error


def test_known_crashes_are_still_there() -> None:
    """Each entry of KNOWN_CRASHES still raises somewhere: a fixed one must leave the list."""
    raised = set()
    for field in distinct_fields():
        for value in ([], {}):
            if _known(field, value):
                try:
                    _judge(field.case, _with(field, value), namespace_labels={})
                except TypeError:
                    names = ".".join(str(step) for step in field.path[-2:])
                    raised.add((names, type(value).__name__))
    reached = {entry for entry in KNOWN_CRASHES
               if any(".".join(str(s) for s in f.path[-2:]) == entry[0]
                      for f in distinct_fields())}
    assert raised == reached, f"fixed, to remove from KNOWN_CRASHES: {sorted(reached - raised)}"


@ROUNDS
@given(data=st.data())
def test_engine_never_raises_on_mutated_policy_cases(data: st.DataObject) -> None:
    field = data.draw(strategies().distinct_field, label="field")
    request = field.request
    new, old = request.object, request.old_object
    if new is not None:
        new = _mutated(data, new, () if field.old else field.path)
    if old is not None:
        old = _mutated(data, old, field.path if field.old else ())
    if request.operation == "CREATE" and new is not None and data.draw(st.booleans()):
        request = dataclasses.replace(request, operation="UPDATE")
        old = _mutated(data, new)
    labels = data.draw(strategies().labels, label="labels")
    _judge(field.case, dataclasses.replace(request, object=new, old_object=old),
           namespace_labels=labels, namespace_terminating=data.draw(st.booleans()))


@ROUNDS
@given(data=st.data(), kind=st.sampled_from(judged_kinds()),
       operation=st.sampled_from(["CREATE", "UPDATE", "DELETE", "CONNECT"]),
       namespace=st.sampled_from(["", "shop", "istio-system", "istio-egress", "kube-system"]))
def test_engine_never_raises_on_any_object(
    data: st.DataObject, kind: tuple[str, str], operation: str, namespace: str,
) -> None:
    objects = strategies().objects
    judged = admission.request(
        None if operation == "DELETE" else data.draw(objects, label="object"),
        kind=(kind[0], "v1", kind[1]), operation=operation, namespace=namespace, name="",
        user=UserInfo("dev"),
        old=None if operation == "CREATE" else data.draw(st.none() | objects, label="old"),
    )
    decision = evaluate(judged, policy_at(REPO / "rules"), now=NOW,
                        namespace_labels=data.draw(st.none() | st.just({})))
    assert decision.allowed or decision.codes
