"""``egressguard validate``: run objects through the webhook's engine, offline.

The same ``webhook.engine.evaluate`` the webhook calls judges each document (see
DESCRIPTION for what the user reads).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from webhook.cli.moments import now_option, now_or_clock
from webhook.cli.options import FILE, add_output, complete, existing_path, subcommand
from webhook.cli.revisions import load_policy_or_report
from webhook.engine import evaluate
from webhook.loader import read_documents
from webhook.model.decision import Decision
from webhook.model.review import (
    ADMISSION_KIND,
    AdmissionRequest,
    MalformedReview,
    UserInfo,
    parse_review,
    request_for_object,
)
from webhook.model.rules import Policy

# Kinds egressguard judges that live outside namespaces.
CLUSTER_SCOPED_KINDS = frozenset({("", "Namespace")})


class UsageError(ValueError):
    """Bad options or unreadable input: exit 2."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One document's decision, with what identifies the document to a person."""

    source: str
    kind: str
    namespace: str
    name: str
    operation: str
    decision: Decision

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "operation": self.operation,
            "allowed": self.decision.allowed,
            "codes": list(self.decision.codes),
            "messages": list(self.decision.messages),
            "warnings": list(self.decision.warnings),
            "patch": list(self.decision.patch),
        }


NamespaceLabels = Callable[[str], Mapping[str, str] | None]


def namespace_labels_from_modes(policy: Policy, modes: Mapping[str, str]) -> NamespaceLabels:
    """Namespace labels as ``--namespace-mode NS=MODE`` describes them; others have none."""
    label = policy.config.mode_label

    def lookup(namespace: str) -> Mapping[str, str]:
        mode = modes.get(namespace)
        return {label: mode} if mode is not None else {}

    return lookup


def request_for_document(
    body: Any, *, user: UserInfo, default_namespace: str, uid: str
) -> AdmissionRequest:
    """The AdmissionRequest a document stands for: as it is, or as a CREATE of the object."""
    if not isinstance(body, dict):
        raise MalformedReview("a document must be a Kubernetes object or an AdmissionReview")
    if body.get("kind") == ADMISSION_KIND and "request" in body:
        return parse_review(body)
    if not isinstance(body.get("kind"), str) or not isinstance(body.get("apiVersion"), str):
        raise MalformedReview("a Kubernetes object needs apiVersion and kind")
    request = request_for_object(body, uid=uid, user=user)
    if not request.namespace and (request.kind.group, request.kind.kind) not in (
        CLUSTER_SCOPED_KINDS
    ):
        request = request_for_object(body, uid=uid, user=user, namespace=default_namespace)
    return request


def judge(
    request: AdmissionRequest,
    policy: Policy,
    *,
    now: datetime,
    namespace_labels: NamespaceLabels,
    source: str = "",
) -> Verdict:
    obj = request.object if request.object is not None else request.old_object
    metadata = obj.get("metadata") if obj is not None else None
    metadata = metadata if isinstance(metadata, dict) else {}
    name = request.name or str(metadata.get("name") or metadata.get("generateName") or "")
    namespace = request.namespace or str(metadata.get("namespace") or "")
    decision = evaluate(request, policy, now=now, namespace_labels=namespace_labels(namespace))
    return Verdict(
        source=source,
        kind=request.kind.kind,
        namespace=namespace,
        name=name,
        operation=request.operation,
        decision=decision,
    )


def _mode_option(value: str) -> tuple[str, str]:
    namespace, sep, mode = value.partition("=")
    if not sep or not namespace:
        raise argparse.ArgumentTypeError(f"{value!r}: write NAMESPACE=MODE, e.g. shop=warn")
    return namespace, mode


DESCRIPTION = """\
Judge Kubernetes objects offline with the webhook's own engine, so a decision in CI
equals the decision in the cluster. Each document is either a Kubernetes object (judged
as a CREATE by --user and --group) or a whole AdmissionReview (judged as it is).

Exit 0 when everything is allowed, 1 when anything is refused, 2 on usage or rules errors."""


def _document_path(value: str) -> str:
    """A file or folder of documents, or - for standard input."""
    if value != "-":
        existing_path(value)
    return value


def add_parser(subparsers: Any) -> None:
    parser = subcommand(
        subparsers, "validate", summary="judge objects offline with the webhook's engine",
        description=DESCRIPTION,
        example_lines=(
            "egressguard validate --rules rules/ -f k8s/",
            "egressguard validate --rules main:rules -f app.yaml --user dev-alice -o json",
            "kubectl kustomize overlays/prod | egressguard validate --rules rules/ -f -",
        ),
    )
    parser.add_argument("--rules", required=True, metavar="RULES",
                        help="the rules repository: a folder, or a git revision REV[:PATH]")
    complete(parser.add_argument(
        "-f", "--filename", dest="paths", action="append", required=True, metavar="PATH",
        type=_document_path,
        help="a file or folder of YAML/JSON documents, or - for standard input (repeatable)",
    ), FILE)
    parser.add_argument("--user", default="", metavar="NAME",
                        help="who creates plain objects (default: nobody trusted)")
    parser.add_argument("--group", dest="groups", action="append", default=[],
                        metavar="GROUP", help="a group of --user (repeatable)")
    parser.add_argument(
        "--namespace-mode", dest="modes", action="append", default=[], type=_mode_option,
        metavar="NS=MODE", help="the mode label of a namespace (repeatable)",
    )
    parser.add_argument(
        "--namespace", default="default", metavar="NAME",
        help="namespace of objects that name none, as kubectl would (default: default)",
    )
    add_output(parser, ("text", "json"), default="text",
               described="text for a person, json for scripts")
    parser.add_argument(
        "--now", type=now_option, default=None, metavar="TIME",
        help="judge as at this time (ISO 8601), for reproducible expiry checks",
    )


def _print_text(verdicts: Sequence[Verdict]) -> None:
    for verdict in verdicts:
        decision = verdict.decision
        where = f"{verdict.namespace}/{verdict.name}" if verdict.namespace else verdict.name
        state = "ALLOWED" if decision.allowed else "REFUSED"
        codes = f" [{', '.join(decision.codes)}]" if decision.codes else ""
        print(f"{state} {verdict.kind} {where} ({verdict.operation}){codes}  {verdict.source}")
        for message in decision.messages:
            print(f"    {message}")
        for warning in decision.warnings:
            print(f"    warning: {warning}")
        for op in decision.patch:
            print(f"    patch: {op['op']} {op['path']} {orjson.dumps(op.get('value')).decode()}")


def run(args: argparse.Namespace) -> int:
    now = now_or_clock(args.now)
    # A mode is a namespace label value as the cluster would hold it: an unknown value is
    # judged as enforce, with a warning, exactly as the webhook judges it.
    policy = load_policy_or_report(args.rules, command="validate")
    if policy is None:
        return 2
    try:
        documents = read_documents(args.paths)
    except (OSError, ValueError) as error:
        print(f"egressguard validate: {error}", file=sys.stderr)
        return 2
    user = UserInfo(username=args.user, groups=tuple(args.groups))
    labels = namespace_labels_from_modes(policy, dict(args.modes))
    verdicts: list[Verdict] = []
    for position, document in enumerate(documents):
        source = f"{document.source}#{document.index}"
        try:
            request = request_for_document(
                document.body,
                user=user,
                default_namespace=args.namespace,
                uid=f"offline-{position}",
            )
        except MalformedReview as error:
            print(f"egressguard validate: {source}: {error}", file=sys.stderr)
            return 2
        verdicts.append(judge(request, policy, now=now, namespace_labels=labels, source=source))
    if args.output == "json":
        sys.stdout.write(
            orjson.dumps([v.as_json() for v in verdicts], option=orjson.OPT_INDENT_2).decode()
            + "\n"
        )
    else:
        _print_text(verdicts)
    return 0 if all(v.decision.allowed for v in verdicts) else 1
