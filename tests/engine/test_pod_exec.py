"""proxy-exec: CONNECT of pods/exec and pods/attach, judged by the container it names."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.conftest import Judge
from tests.example_policy import CONFIG
from webhook.model.review import UserInfo


def _options(kind: str = "PodExecOptions", **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "web-1"}, **fields}


def _connect(judge: Judge, options: dict[str, Any] | None, **kwargs: Any) -> Any:
    sub = "attach" if options and options["kind"] == "PodAttachOptions" else "exec"
    return judge(options, operation="CONNECT", namespace="shop", sub_resource=sub, **kwargs)


@pytest.mark.parametrize("container", ["istio-proxy", "istio-init", "istio-validation"])
@pytest.mark.parametrize("kind", ["PodExecOptions", "PodAttachOptions"])
def test_exec_and_attach_into_a_mesh_container_are_refused(
    judge: Judge, kind: str, container: str
) -> None:
    decision = _connect(judge, _options(kind, container=container, command=["sh"]))
    assert not decision.allowed
    assert decision.codes == ("proxy-exec",)
    assert decision.violations[0].value == container
    assert "never captured" in decision.messages[0]


@pytest.mark.parametrize("container", [None, "", 7, ["istio-proxy"]])
def test_an_exec_that_names_no_container_could_be_the_proxy(judge: Judge, container: Any) -> None:
    options = _options() if container is None else _options(container=container)
    decision = _connect(judge, options)
    assert decision.codes == ("proxy-exec",)


def test_exec_into_the_application_is_allowed(judge: Judge) -> None:
    assert _connect(judge, _options(container="checkout", command=["sh"])).allowed


def test_trusted_principals_may_debug_the_sidecar(judge: Judge) -> None:
    (user,) = CONFIG.trusted.users
    decision = _connect(judge, _options(container="istio-proxy"), user=UserInfo(username=user))
    assert decision.allowed and decision.codes == ()


def test_warn_mode_admits_with_a_warning(judge: Judge) -> None:
    decision = _connect(judge, _options(container="istio-proxy"), mode="warn")
    assert decision.allowed
    assert any(w.startswith("proxy-exec:") for w in decision.warnings)


def test_other_connect_subresources_are_not_judged(judge: Judge) -> None:
    decision = judge(
        _options("PodAttachOptions", container="istio-proxy"),
        operation="CONNECT",
        namespace="shop",
        sub_resource="portforward",
    )
    assert decision.allowed and decision.codes == ()
