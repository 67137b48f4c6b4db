"""Rendering the rules repository into data-plane configuration.

``render(policy, mode, options)`` turns a :class:`~webhook.model.rules.Policy` into plain
documents (dicts), grouped in files: NetworkPolicies in every mode, plus Istio sidecar-mode
gateway routing, an ambient egress waypoint, or one Envoy per destination. Everything here
is pure; :mod:`webhook.render.output` is the one module that writes.
"""

from webhook.render.envoy_config import EnvoyOverrides, bootstrap
from webhook.render.objects import Document, RenderedFile
from webhook.render.plan import RenderError, RenderOptions, plan_destinations
from webhook.render.rendering import Rendering, RenderMode, render

__all__ = [
    "Document",
    "EnvoyOverrides",
    "RenderError",
    "RenderMode",
    "RenderOptions",
    "RenderedFile",
    "Rendering",
    "bootstrap",
    "plan_destinations",
    "render",
]
