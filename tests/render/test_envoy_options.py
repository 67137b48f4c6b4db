"""The per-destination Envoy's image and resources come from render's options."""

from __future__ import annotations

import pytest

from tests.render.test_rendering import docs, find
from webhook.cli.main import main
from webhook.render import RenderMode
from webhook.render.plan import ENVOY_IMAGE


def _container(documents: list[dict[str, object]], name: str) -> dict[str, object]:
    deployment = find(documents, "Deployment", name)
    return deployment["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return,index]


def test_the_defaults_are_the_pinned_image_and_bounded_memory() -> None:
    container = _container(docs(RenderMode.ENVOY_PER_DESTINATION), "stripe")
    assert container["image"] == ENVOY_IMAGE
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"},
                                      "limits": {"memory": "512Mi"}}


def test_image_and_resources_are_set_from_the_command_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["render", "--rules", "rules", "--mode", "envoy-per-destination",
                 "--now", "2026-06-01", "--envoy-image", "registry.example/envoy:v1.40.0",
                 "--envoy-resource", "limits.cpu=1", "--envoy-resource", "limits.memory=",
                 "--envoy-resource", "requests.memory=128Mi"])
    out = capsys.readouterr().out
    assert code == 0
    assert "image: registry.example/envoy:v1.40.0" in out
    assert "cpu: '1'" in out or 'cpu: "1"' in out
    assert "512Mi" not in out and "128Mi" in out


@pytest.mark.parametrize("value", ["limits.cpu=lots", "limit.cpu=1", "requests.gpu=1"])
def test_a_wrong_resource_is_refused_naming_it(value: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["render", "--rules", "rules", "--mode", "envoy-per-destination",
              "--envoy-resource", value])
    assert value in capsys.readouterr().err
