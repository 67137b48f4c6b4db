"""Which mode a namespace is in, read from its labels."""

from __future__ import annotations

from collections.abc import Mapping

from webhook.model.rules import Config, Mode


def resolve_mode(
    config: Config, namespace_labels: Mapping[str, str] | None
) -> tuple[Mode, tuple[str, ...]]:
    """The namespace's mode and any warning about how it was read.

    ``None`` means the namespace could not be looked up: that fails closed, as ``enforce``,
    never as "no labels".
    """
    if namespace_labels is None:
        return Mode.ENFORCE, ("namespace labels could not be read; judged in enforce mode",)
    value = namespace_labels.get(config.mode_label)
    if value is None:
        return config.default_mode, ()
    try:
        return Mode(value), ()
    except ValueError:
        return Mode.ENFORCE, (
            f"namespace label {config.mode_label}={value!r} is not enforce, warn or off; "
            "judged in enforce mode",
        )
