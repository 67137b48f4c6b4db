"""What should be in the cluster now, and when that changes by itself.

Pure: the rules, the render mode and options, the namespaces that exist. The fence goes
into every namespace but the exempt ones (render leaves those out), so a namespace with
no grants is fenced too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from webhook.controller.kinds import ManagedKind, managed_kind
from webhook.model.rules import Policy
from webhook.render import RenderMode, RenderOptions, render
from webhook.render.objects import MANAGED_BY, MANAGED_BY_KEY

Document = dict[str, Any]
FIELD_MANAGER = "egressguard"
MANAGED_SELECTOR = f"{MANAGED_BY_KEY}={MANAGED_BY}"


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """One object's identity in the cluster: type, namespace ("" when cluster-scoped), name."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def managed(self) -> ManagedKind:
        return managed_kind(self.api_version, self.kind)

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"


def key_of(document: Mapping[str, Any]) -> ObjectKey:
    meta = document["metadata"]
    return ObjectKey(document["apiVersion"], document["kind"], meta.get("namespace", ""),
                     meta["name"])


def desired_objects(policy: Policy, mode: RenderMode, options: RenderOptions,
                    namespaces: Iterable[str]) -> dict[ObjectKey, Document]:
    """Every object render writes for ``policy``, the fence in each of ``namespaces``
    included, by key (render's own order)."""
    fenced = tuple(sorted({*options.fence_namespaces, *namespaces}))
    rendering = render(policy, mode, dataclasses.replace(options, fence_namespaces=fenced))
    found: dict[ObjectKey, Document] = {}
    for file in rendering.files:
        for document in file.documents:
            key = key_of(document)
            key.managed  # noqa: B018 - raises for a kind the controller cannot manage
            found[key] = document
    return found


def lapses_at(expires: Any) -> datetime:
    """A grant or exception is active through its ``expires`` day (UTC), so it lapses at
    the next midnight."""
    return datetime.combine(expires + timedelta(days=1), time(0), tzinfo=UTC)


def next_expiry(policy: Policy, now: datetime) -> datetime | None:
    """When the next grant or exception lapses after ``now``: the rendered access changes
    then, with no rules change to announce it."""
    dates = [grant.expires for grant in policy.grants if grant.expires is not None]
    dates += [exception.expires for exception in policy.exceptions]
    later = [moment for moment in map(lapses_at, dates) if moment > now]
    return min(later) if later else None


def judged_namespaces(policy: Policy, namespaces: Iterable[str]) -> tuple[str, ...]:
    """The namespaces that get a fence: all but the exempt ones."""
    exempt = policy.config.exempt_namespaces
    return tuple(sorted(set(namespaces) - exempt))


def owned_by_us(existing: Mapping[str, Any]) -> bool:
    """Whether an object carries our label and was applied by our field manager: only such
    objects are ever pruned, whatever else carries the label."""
    meta = existing.get("metadata") or {}
    if (meta.get("labels") or {}).get(MANAGED_BY_KEY) != MANAGED_BY:
        return False
    return any(entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply"
               for entry in meta.get("managedFields") or ())


def stale(existing: Iterable[Mapping[str, Any]],
          desired: Mapping[ObjectKey, Document]) -> list[ObjectKey]:
    """Objects of ours in the cluster that the rules no longer produce."""
    return sorted(key for key in map(key_of, (obj for obj in existing if owned_by_us(obj)))
                  if key not in desired)
