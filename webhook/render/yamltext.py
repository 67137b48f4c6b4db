"""Documents as YAML text, the same bytes every time.

Keys keep the order they were built in (Kubernetes order, not alphabetical), multi-line
strings (Lua, envoy.yaml) are block literals a reviewer can read, and no anchors or
aliases appear even when a renderer reuses one dict in two places.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def yaml_text(value: Any) -> str:
    """One YAML document, without the ``---`` marker."""
    text: str = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )
    return text
