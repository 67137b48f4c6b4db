"""What render ships for Envoy passes the real Envoy's own check (`envoy --mode validate`).

Checked: every envoy.yaml inside the per-destination ConfigMaps of the goldens (what a
cluster would run), and the DLP Lua filters of the Istio modes, placed in a minimal
listener, since validate mode parses every field and compiles the Lua.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.render.envoy_process import envoy_version, validate
from webhook.render.envoy_config import HCM, LUA, ROUTER
from webhook.render.yamltext import yaml_text

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "render"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _envoy_configs() -> list[tuple[str, str]]:
    found = []
    for path in sorted((GOLDEN / "envoy-per-destination").glob("destination-*.yaml")):
        for doc in _documents(path):
            if doc["kind"] == "ConfigMap":
                found.append((path.name, doc["data"]["envoy.yaml"]))
    return found


def _lua_filters() -> list[tuple[str, dict[str, Any]]]:
    """(where, http filter) for every DLP filter the Istio modes render."""
    found = []
    for path in sorted((GOLDEN / "istio-sidecar").glob("destination-*.yaml")):
        for doc in _documents(path):
            if doc["kind"] == "EnvoyFilter":
                for patch in doc["spec"]["configPatches"]:
                    found.append((f"sidecar/{path.name}", patch["patch"]["value"]))
    for path in sorted((GOLDEN / "istio-ambient").glob("destination-*.yaml")):
        for doc in _documents(path):
            if doc["kind"] == "TrafficExtension":
                code = doc["spec"]["lua"]["inlineCode"]
                found.append(
                    (
                        f"ambient/{path.name}",
                        {
                            "name": "envoy.filters.http.lua",
                            "typed_config": {
                                "@type": LUA,
                                "default_source_code": {"inline_string": code},
                            },
                        },
                    )
                )
    return found


def _listener_with(http_filter: dict[str, Any]) -> dict[str, Any]:
    return {
        "static_resources": {
            "listeners": [
                {
                    "name": "probe",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": HCM,
                                        "stat_prefix": "probe",
                                        "route_config": {"name": "probe", "virtual_hosts": []},
                                        "http_filters": [
                                            http_filter,
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {"@type": ROUTER},
                                            },
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ]
        }
    }


def test_the_envoy_binary_runs() -> None:
    assert "/1.40." in envoy_version()


ENVOY_CONFIGS = _envoy_configs()
LUA_FILTERS = _lua_filters()


def test_every_per_destination_golden_has_an_envoy_config() -> None:
    assert len(ENVOY_CONFIGS) == 7
    assert len(LUA_FILTERS) == 2  # partner-api, in each Istio mode


@pytest.mark.parametrize(("source", "text"), ENVOY_CONFIGS, ids=[n for n, _ in ENVOY_CONFIGS])
def test_each_rendered_envoy_config_passes_envoy_validate(
    source: str, text: str, tmp_path: Path
) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(text)
    result = validate(config)
    assert result.returncode == 0, f"{source}:\n{result.stdout}{result.stderr}"
    assert "OK" in result.stdout + result.stderr


@pytest.mark.parametrize(("source", "http_filter"), LUA_FILTERS, ids=[n for n, _ in LUA_FILTERS])
def test_each_istio_dlp_filter_loads_in_envoy(
    source: str, http_filter: dict[str, Any], tmp_path: Path
) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml_text(_listener_with(http_filter)))
    result = validate(config)
    assert result.returncode == 0, f"{source}:\n{result.stdout}{result.stderr}"


def test_validate_catches_a_broken_lua_script(tmp_path: Path) -> None:
    """So that the two tests above prove something."""
    config = tmp_path / "envoy.yaml"
    broken = {
        "name": "envoy.filters.http.lua",
        "typed_config": {
            "@type": LUA,
            "default_source_code": {"inline_string": "function envoy_on_request(h) if then end"},
        },
    }
    config.write_text(yaml_text(_listener_with(broken)))
    assert validate(config).returncode != 0
