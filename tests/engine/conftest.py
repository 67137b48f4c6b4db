"""Judging objects against the example rules/ mirrored in code (tests/example_policy.py).

The unit tests of the pod checks do not depend on the loader: they call
:func:`webhook.engine.evaluate` as the webhook does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import pytest

from tests.admission import request
from tests.example_policy import CONFIG, NOW, example_policy
from webhook.engine import evaluate
from webhook.model.decision import Decision
from webhook.model.review import GroupVersionKind, UserInfo
from webhook.model.rules import Policy

DEVELOPER = UserInfo(username="developer@example.com", groups=("system:authenticated",))


KINDS = {
    "Pod": GroupVersionKind("", "v1", "Pod"),
    "Deployment": GroupVersionKind("apps", "v1", "Deployment"),
    "ReplicaSet": GroupVersionKind("apps", "v1", "ReplicaSet"),
    "StatefulSet": GroupVersionKind("apps", "v1", "StatefulSet"),
    "DaemonSet": GroupVersionKind("apps", "v1", "DaemonSet"),
    "Job": GroupVersionKind("batch", "v1", "Job"),
    "CronJob": GroupVersionKind("batch", "v1", "CronJob"),
    "PodExecOptions": GroupVersionKind("", "v1", "PodExecOptions"),
    "PodAttachOptions": GroupVersionKind("", "v1", "PodAttachOptions"),
}


class Judge(Protocol):
    def __call__(
        self,
        obj: dict[str, Any] | None,
        *,
        operation: str = ...,
        old: dict[str, Any] | None = ...,
        namespace: str | None = ...,
        sub_resource: str = ...,
        mode: str | None = ...,
        now: datetime = ...,
        user: UserInfo = ...,
    ) -> Decision: ...


@pytest.fixture(scope="session")
def policy() -> Policy:
    return example_policy()


@pytest.fixture
def judge(policy: Policy) -> Judge:
    """Judges an object as the API server would send it: a CREATE unless told otherwise."""

    def run(
        obj: dict[str, Any] | None,
        *,
        operation: str = "CREATE",
        old: dict[str, Any] | None = None,
        namespace: str | None = None,
        sub_resource: str = "",
        mode: str | None = None,
        now: datetime = NOW,
        user: UserInfo = DEVELOPER,
    ) -> Decision:
        body = obj if obj is not None else old
        assert body is not None
        metadata = body.get("metadata", {})
        ns = namespace if namespace is not None else metadata.get("namespace", "default")
        judged = request(obj, kind=KINDS[body["kind"]], operation=operation,
                         sub_resource=sub_resource, namespace=ns, user=user, old=old)
        labels = {CONFIG.mode_label: mode} if mode is not None else {}
        return evaluate(judged, policy, now=now, namespace_labels=labels)

    return run


PodFactory = Callable[..., dict[str, Any]]


def make_pod(
    *,
    namespace: str = "shop",
    service_account: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    containers: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A Pod as kubectl would send it, with one plain container unless told otherwise."""
    metadata: dict[str, Any] = {"name": "app", "namespace": namespace}
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata["annotations"] = annotations
    body: dict[str, Any] = {
        "containers": containers
        if containers is not None
        else [{"name": "app", "image": "registry.example.com/shop/app:1.4.2"}],
        **spec,
    }
    if service_account is not None:
        body["serviceAccountName"] = service_account
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": body}


@pytest.fixture
def pod() -> PodFactory:
    return make_pod
