"""What a workload may set of its proxy's configuration (Istio's ProxyConfig), by sub-field.

The same judgement applies to the ``proxy.istio.io/config`` annotation, the ``PROXY_CONFIG``
the injector writes into istio-proxy, and the ``ProxyConfig`` kind. A field is fine when it
cannot send traffic anywhere the mesh does not: drain and concurrency settings, statistics,
tracing to a collector inside the cluster, the proxy metadata variables that cannot redirect
the proxy, the image type and the gateway topology, and the defaults Istio itself writes
(its own ``istiod`` in the mesh root namespace, its own paths). Anything else, and anything
that cannot be read with certainty, is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from webhook.engine.hosts_local import is_cluster_local
from webhook.engine.podspec import brief
from webhook.model.addresses import InternalRanges
from webhook.model.rules import Config
from webhook.syntax.yamlstrict import YamlError, read_strict

# proxyMetadata variables that cannot redirect the proxy: DNS capture and allocation (they
# add capture), drain and idle behaviour, dual stack, HTTP/1.0.
PROXY_METADATA_ALLOWED = frozenset(
    {
        "ISTIO_META_DNS_CAPTURE",
        "ISTIO_META_DNS_AUTO_ALLOCATE",
        "EXIT_ON_ZERO_ACTIVE_CONNECTIONS",
        "MINIMUM_DRAIN_DURATION",
        "ISTIO_META_IDLE_TIMEOUT",
        "ISTIO_META_HTTP10",
        "ISTIO_DUAL_STACK",
        "ISTIO_AGENT_DUAL_STACK",
        "ISTIO_META_ENABLE_HBONE",
        "ISTIO_META_INSECURE_SKIP_VERIFY_PEER_SAN",
    }
)
# Istio's own defaults for fields a workload may not change (pilot-agent's paths).
_DEFAULTS = {"configPath": "./etc/istio/proxy", "binaryPath": "/usr/local/bin/envoy"}
_ADDRESS = re.compile(r"^(?P<host>\[[^\]]*\]|[^:]+)(?::(?P<port>[0-9]{1,5}))?$")
_TRACERS = frozenset({"zipkin", "lightstep", "datadog", "openCensusAgent"})
_TRACING_PLAIN = frozenset({"sampling", "customTags", "maxPathTagLength", "enableIstioTags"})


class UnreadableConfig(ValueError):
    """A proxy config that cannot be read with certainty."""


@dataclass(frozen=True, slots=True)
class ProxyConfigJudge:
    """What the judgement needs from the Config: the cluster domain, the internal ranges and
    the mesh root namespace (where istiod and the mesh's own collectors run)."""

    cluster_domain: str
    internal_ranges: InternalRanges
    root_namespace: str

    @classmethod
    def of(cls, config: Config) -> ProxyConfigJudge:
        return cls(config.cluster_domain, config.internal_ranges, config.mesh_root_namespace)

    def inside(self, address: str) -> bool:
        """An address (``host[:port]``) inside the cluster: cluster-local, a service of the mesh
        root namespace (``zipkin.istio-system``, as Istio's defaults write it), or internal."""
        match = _ADDRESS.match(address.strip().removeprefix("dns:"))
        if match is None:
            return False
        host = match.group("host").strip("[]").lower().rstrip(".")
        if host == "$(host_ip)":  # the node's own address, as Istio's Datadog default writes it
            return True
        if self.internal_ranges.contains(host):
            return True
        _service, dot, namespace = host.partition(".")
        if dot and namespace == self.root_namespace and "." not in namespace:
            return True
        return bool(host) and is_cluster_local(host, self.cluster_domain) and not _is_ip(host)

    def is_istiod(self, address: str) -> bool:
        match = _ADDRESS.match(address.strip())
        if match is None:
            return False
        host = match.group("host").lower().rstrip(".")
        suffixes = (
            f".{self.root_namespace}.svc",
            f".{self.root_namespace}.svc.{self.cluster_domain}",
        )
        service = next((host[: -len(s)] for s in suffixes if host.endswith(s)), "")
        return service == "istiod" or service.startswith("istiod-")


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+|[0-9a-f:]+", host))


# --- reading ------------------------------------------------------------------------------


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise UnreadableConfig(f"sets {brief(next(k for k in keys if keys.count(k) > 1))} twice")
    return dict(pairs)


def read_proxy_config(text: str) -> dict[str, Any]:
    """The annotation's or PROXY_CONFIG's text as a mapping; raises :class:`UnreadableConfig`."""
    if text.strip().startswith("{"):
        try:
            parsed = json.loads(text, object_pairs_hook=_no_duplicates)
        except UnreadableConfig:
            raise
        except (ValueError, RecursionError) as error:
            raise UnreadableConfig("not valid JSON") from error
    else:
        try:
            parsed = read_strict(text).value
        except YamlError as error:
            raise UnreadableConfig(str(error)[:80]) from None
        if parsed is None:
            return {}
    if not isinstance(parsed, dict):
        raise UnreadableConfig("not a mapping")
    return parsed


# --- judging ----------------------------------------------------------------------------------

Problem = str  # what is wrong, as a message fragment


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _tracing(judge: ProxyConfigJudge, value: Any) -> Iterator[Problem]:
    if value is None:
        return
    if not isinstance(value, dict):
        yield "tracing is not a mapping"
        return
    for key, setting in value.items():
        if key in _TRACING_PLAIN or key == "tlsSettings":
            continue
        if key not in _TRACERS:
            yield f"tracing.{brief(key)} may send traces outside the cluster"
            continue
        address = setting.get("address") if isinstance(setting, dict) else None
        if address is not None and not judge.inside(_text(address)):
            yield f"tracing.{key}.address {brief(_text(address))} is outside the cluster"


def _metadata(_judge: ProxyConfigJudge, value: Any) -> Iterator[Problem]:
    if value is None:
        return
    if not isinstance(value, dict):
        yield "proxyMetadata is not a mapping"
        return
    for key in sorted(value):
        if key not in PROXY_METADATA_ALLOWED:
            yield f"proxyMetadata.{brief(key)} is not one that cannot redirect the proxy"


def _image(_judge: ProxyConfigJudge, value: Any) -> Iterator[Problem]:
    if value is not None and (not isinstance(value, dict) or set(value) - {"imageType"}):
        yield "image may set only imageType"


def _collector(field: str) -> Callable[[ProxyConfigJudge, Any], Iterator[Problem]]:
    def judge(judge_: ProxyConfigJudge, value: Any) -> Iterator[Problem]:
        address = value.get("address") if isinstance(value, dict) else value
        if value is not None and (address is None or not judge_.inside(_text(address))):
            yield f"{field} sends to an address outside the cluster"

    return judge


def _discovery(judge: ProxyConfigJudge, value: Any) -> Iterator[Problem]:
    if value is not None and not judge.is_istiod(_text(value)):
        yield f"discoveryAddress {brief(_text(value))} is not the mesh's istiod"


def _interception(_judge: ProxyConfigJudge, value: Any) -> Iterator[Problem]:
    if value is not None and value not in ("REDIRECT", "TPROXY"):
        yield f"interceptionMode {brief(_text(value))} does not capture"


def _default(field: str) -> Callable[[ProxyConfigJudge, Any], Iterator[Problem]]:
    def judge(_judge: ProxyConfigJudge, value: Any) -> Iterator[Problem]:
        if value is not None and value != _DEFAULTS[field]:
            yield f"{field} {brief(_text(value))} runs another proxy than Istio's"

    return judge


def _fine(_judge: ProxyConfigJudge, _value: Any) -> Iterator[Problem]:
    return iter(())


# Every ProxyConfig field a workload may set, and how its value is judged.
FIELDS: dict[str, Callable[[ProxyConfigJudge, Any], Iterator[Problem]]] = {
    "holdApplicationUntilProxyStarts": _fine,
    "terminationDrainDuration": _fine,
    "drainDuration": _fine,
    "parentShutdownDuration": _fine,
    "concurrency": _fine,
    "proxyStatsMatcher": _fine,
    "extraStatTags": _fine,
    "statNameLength": _fine,
    "gatewayTopology": _fine,
    "serviceCluster": _fine,
    "statusPort": _fine,
    "proxyAdminPort": _fine,
    "controlPlaneAuthPolicy": _fine,
    "tracing": _tracing,
    "proxyMetadata": _metadata,
    "image": _image,
    "discoveryAddress": _discovery,
    "interceptionMode": _interception,
    "configPath": _default("configPath"),
    "binaryPath": _default("binaryPath"),
    "envoyAccessLogService": _collector("envoyAccessLogService"),
    "envoyMetricsService": _collector("envoyMetricsService"),
}
# The ProxyConfig kind's name for proxyMetadata.
KIND_FIELDS: dict[str, Callable[[ProxyConfigJudge, Any], Iterator[Problem]]] = {
    "environmentVariables": _metadata,
    "image": _image,
    "concurrency": _fine,
}


def judge_fields(
    config: dict[str, Any],
    judge: ProxyConfigJudge,
    fields: dict[str, Callable[[ProxyConfigJudge, Any], Iterator[Problem]]] = FIELDS,
) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in config.items():
        rule = fields.get(key)
        if rule is None:
            problems.append(f"may not set {brief(key)}")
            continue
        problems.extend(rule(judge, value))
    return problems


def judge_proxy_config_text(text: str, judge: ProxyConfigJudge) -> list[Problem]:
    try:
        config = read_proxy_config(text)
    except UnreadableConfig as error:
        return [f"cannot be read with certainty ({error}); write it as a JSON object"]
    return judge_fields(config, judge)


def judge_proxy_config_json(text: str, judge: ProxyConfigJudge) -> list[Problem]:
    """PROXY_CONFIG as the injector writes it (JSON; empty means the mesh's defaults)."""
    if not text.strip():
        return []
    return judge_proxy_config_text(text, judge)
