"""Changes to config.yaml that loosen (or tighten) egressguard itself.

A few lines of config.yaml weigh more than any grant: a namespace added to
``exemptNamespaces`` is never judged again, a trusted principal may open egress around the
gateways, a nameserver may resolve anything. These are reported beside the access diff, and
the ones that loosen count as widening.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from webhook.model.rules import Config, Mode


@dataclass(frozen=True, slots=True)
class SettingChange:
    """One config.yaml setting, as the values added and removed."""

    setting: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    widens: bool
    scalar: bool = False

    def describe(self) -> str:
        """``defaultMode: enforce -> warn`` or ``exemptNamespaces adds a; removes b``."""
        if self.scalar:
            return f"{self.setting}: {self.removed[0]} -> {self.added[0]}"
        parts = []
        if self.added:
            parts.append(f"adds {', '.join(self.added)}")
        if self.removed:
            parts.append(f"removes {', '.join(self.removed)}")
        return f"{self.setting} {'; '.join(parts)}"


# setting name, how to read it, whether adding a value loosens the checks
_SETS: tuple[tuple[str, Callable[[Config], Iterable[str]], bool], ...] = (
    ("exemptNamespaces", lambda c: c.exempt_namespaces, True),
    ("trustedPrincipals.users", lambda c: c.trusted.users, True),
    ("trustedPrincipals.groups", lambda c: c.trusted.groups, True),
    ("trustedPrincipals.serviceAccounts", lambda c: c.trusted.service_accounts, True),
    ("dns.allowedNameservers", lambda c: c.allowed_nameservers, True),
    ("mesh.proxyImages", lambda c: c.proxy_images, True),
)
# settings with one value; a change of the label prefix or root namespace moves every
# label or every mesh-wide filter, worth a look but not more access in itself
_SCALARS: tuple[tuple[str, Callable[[Config], str]], ...] = (
    ("defaultMode", lambda c: c.default_mode.value),
    ("labelPrefix", lambda c: c.label_prefix),
    ("mesh.rootNamespace", lambda c: c.mesh_root_namespace),
)


def setting_changes(base: Config, head: Config) -> tuple[SettingChange, ...]:
    """Every setting whose value differs, with whether the change loosens egressguard."""
    found = []
    for name, read, adding_loosens in _SETS:
        old, new = set(read(base)), set(read(head))
        if old != new:
            added, removed = tuple(sorted(new - old)), tuple(sorted(old - new))
            found.append(SettingChange(name, added, removed, widens=adding_loosens and bool(added)))
    for name, read_one in _SCALARS:
        before, after = read_one(base), read_one(head)
        if before != after:
            loosens = name == "defaultMode" and after != Mode.ENFORCE.value
            found.append(SettingChange(name, (after,), (before,), widens=loosens, scalar=True))
    return tuple(found)
