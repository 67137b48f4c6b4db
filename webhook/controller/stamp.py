"""Whether a live object is still what the controller applied, read from the object alone.

A leader remembers what it applied; a new one (a rolling update, a failover) remembers
nothing, yet has just listed every managed object. Each apply therefore carries, in the
annotation ``egressguard.io/applied-digest``, a digest of the document render wrote (render's
own output never carries it). A listed object is taken as in step, with no request, only when
all of these hold, and anything else is applied again:

- the digest equals the desired document's: the rules have not changed what it should be;
- no field manager but ``egressguard`` (operation ``Apply``) owns fields of the object itself.
  An edit (``kubectl edit``, ``patch``, ``replace``, another applier) that adds or changes a
  field records its manager; entries for a subresource (status, scale) are other controllers
  reporting, not edits of what we wrote;
- our entry owns no field that the desired document (with its digest) does not have: an
  apply as field manager ``egressguard`` by someone else, of more than we apply, shows there;
- every field of the desired document is in the live object with the same value. The API
  server records no manager for an edit that only removes fields: the remover owns nothing
  and the removed fields just leave our entry, so only the content shows such an edit. Fields
  the API server adds (defaults) are allowed, but inside an atomic list (owned whole, so an
  apply of more as ``egressguard`` shows nowhere else) only a port's default protocol; a
  value normalised differently counts as a difference, which costs a request, never a
  missed edit.

The annotation is in egressguard's domain, which the webhook's managed-object check treats as
configuring: only trusted principals change it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from webhook.controller.desired import FIELD_MANAGER, Document

DIGEST_ANNOTATION = "egressguard.io/applied-digest"


def digest(document: Mapping[str, Any]) -> str:
    """A digest of the document as render wrote it (keys sorted, so order does not count)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def stamped(document: Mapping[str, Any], value: str) -> Document:
    """The document the controller applies: render's, with the digest annotation."""
    applied: Document = copy.deepcopy(dict(document))
    metadata = applied.setdefault("metadata", {})
    metadata["annotations"] = {**(metadata.get("annotations") or {}), DIGEST_ANNOTATION: value}
    return applied


def with_revision(document: Document, key: str, earlier: Mapping[str, Any] | None
                  ) -> Document:
    """``document`` with the rules revision (annotation ``key``) that ``earlier``, the live
    object or what this leader applied, carries: a rules change that leaves the rest of the
    document as it was does not make it a different document. ``document`` itself when
    ``earlier`` names no revision, or the same one."""
    meta = earlier.get("metadata") if earlier else None
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    carried = annotations.get(key) if isinstance(annotations, Mapping) else None
    ours = document["metadata"].get("annotations") or {}
    if not isinstance(carried, str) or key not in ours or ours[key] == carried:
        return document
    metadata = {**document["metadata"], "annotations": {**ours, key: carried}}
    return {**document, "metadata": metadata}


def live_digest(live: Mapping[str, Any]) -> str | None:
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(DIGEST_ANNOTATION) if isinstance(annotations, Mapping) else None
    return value if isinstance(value, str) else None


def difference(live: Mapping[str, Any], document: Mapping[str, Any], value: str) -> str | None:
    """Why ``live`` may not be ``document`` as applied with digest ``value``; None when it is
    in step and needs no request. An object that cannot be read is not in step."""
    try:
        return _difference(live, document, value)
    except Exception as error:  # an odd shape from the API server: apply, never skip
        return f"unreadable ({type(error).__name__})"


def _difference(live: Mapping[str, Any], document: Mapping[str, Any], value: str) -> str | None:
    found = live_digest(live)
    if found != value:
        return "no digest" if found is None else "another digest"
    others = foreign_managers(live)
    if others:
        return "fields owned by " + ", ".join(others)
    outside = owned_outside(our_fields(live), _with_digest(document, value), "")
    if outside is not None:
        return f"{FIELD_MANAGER} owns {outside or 'fields'}, which it does not apply"
    missing = first_mismatch(live, document, "", our_fields(live))
    if missing is not None:
        return f"{missing or 'the object'} differs"
    return None


def foreign_managers(live: Mapping[str, Any]) -> list[str]:
    """Field managers other than our apply that own fields of the object itself; an entry
    that cannot be read counts as foreign."""
    entries = (live.get("metadata") or {}).get("managedFields")
    if not isinstance(entries, list) or not entries:
        return ["(no managed fields)"]
    found = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            found.append("(unreadable entry)")
            continue
        if entry.get("subresource"):
            continue
        manager, operation = entry.get("manager"), entry.get("operation")
        if manager == FIELD_MANAGER and operation == "Apply":
            continue
        found.append(f"{manager} ({operation})")
    return found


def our_fields(live: Mapping[str, Any]) -> Any:
    """The fields our apply owns in the object itself (``fieldsV1``); None when unreadable."""
    entries = (live.get("metadata") or {}).get("managedFields") or ()
    ours = [entry for entry in entries if isinstance(entry, Mapping)
            and not entry.get("subresource") and entry.get("manager") == FIELD_MANAGER
            and entry.get("operation") == "Apply"]
    return ours[0].get("fieldsV1") if len(ours) == 1 else None


def owned_outside(fields: Any, document: Any, path: str) -> str | None:
    """The path of the first field of a ``fieldsV1`` set (``f:`` a field, ``k:`` a list item
    by its keys, ``v:`` a list item by value, ``i:`` by position) that ``document`` does not
    have; "" when the set itself cannot be read."""
    if not isinstance(fields, Mapping):
        return path
    for name, child in fields.items():
        if name == ".":
            continue
        kind, _, rest = str(name).partition(":")
        if kind == "f":
            where = f"{path}.{rest}" if path else rest
            if not isinstance(document, Mapping) or rest not in document:
                return where
            found = owned_outside(child, document[rest], where)
        elif kind == "k":
            where = f"{path}[{rest}]"
            item = _keyed_item(document, rest)
            if item is None:
                return where
            found = owned_outside(child, item, where)
        elif kind == "v":
            if not isinstance(document, list) or not any(
                    _same_json(rest, item) for item in document):
                return f"{path}[{rest}]"
            found = None
        elif kind == "i" and rest.isdigit() and isinstance(document, list) \
                and int(rest) < len(document):
            found = owned_outside(child, document[int(rest)], f"{path}[{rest}]")
        else:
            return f"{path}[{name}]"
        if found is not None:
            return found
    return None


def _keyed_item(document: Any, keys: str) -> Any:
    """The item of a list with these key fields. A key field the item leaves out matches (the
    API server may fill in a key's default), but at least one must be there."""
    try:
        wanted = json.loads(keys)
    except ValueError:
        return None
    if not isinstance(document, list) or not isinstance(wanted, dict) or not wanted:
        return None
    for item in document:
        if (isinstance(item, Mapping) and any(key in item for key in wanted)
                and all(key not in item or _same_scalar(item[key], value)
                        for key, value in wanted.items())):
            return item
    return None


def _same_json(text: str, value: Any) -> bool:
    try:
        return _same_scalar(json.loads(text), value)
    except ValueError:
        return False


def _with_digest(document: Mapping[str, Any], value: str) -> Mapping[str, Any]:
    """``stamped`` without copying: only read."""
    metadata = document.get("metadata") or {}
    annotations = {**(metadata.get("annotations") or {}), DIGEST_ANNOTATION: value}
    return {**document, "metadata": {**metadata, "annotations": annotations}}


# What the API server fills into items of the lists render writes: a port's protocol.
LIST_ITEM_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}


def first_mismatch(live: Any, desired: Any, path: str, fields: Any = None,
                   strict: bool = False) -> str | None:
    """The path of the first desired field missing from ``live`` or different there.

    Maps may carry more keys (the API server's defaults): a key we do not apply that someone
    else added shows as their field manager, or in ``fields``, our entry's ``fieldsV1``. Not
    inside an atomic list, which an entry owns whole: there items must be what we apply but
    for ``LIST_ITEM_DEFAULTS``. A list is atomic unless ``fields`` shows its items.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return path
        for key, value in desired.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in live:
                return where
            found = first_mismatch(live[key], value, where, _child(fields, f"f:{key}"), strict)
            if found is not None:
                return found
        if strict:
            for key in live.keys() - desired.keys():
                if not (key in LIST_ITEM_DEFAULTS
                        and _same_scalar(live[key], LIST_ITEM_DEFAULTS[key])):
                    return f"{path}.{key}"
        return None
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return path
        atomic = strict or not _items_shown(fields)
        for index, (item, value) in enumerate(zip(live, desired, strict=True)):
            shown = None if atomic else _item_fields(fields, index, value)
            found = first_mismatch(item, value, f"{path}[{index}]", shown, atomic)
            if found is not None:
                return found
        return None
    return None if _same_scalar(live, desired) else path


def _child(fields: Any, name: str) -> Any:
    return fields.get(name) if isinstance(fields, Mapping) else None


def _items_shown(fields: Any) -> bool:
    return isinstance(fields, Mapping) and any(
        str(name)[:2] in ("k:", "v:", "i:") for name in fields)


def _item_fields(fields: Mapping[str, Any], index: int, item: Any) -> Any:
    """The part of a granular list's ``fieldsV1`` about one item: by position, key or value."""
    if f"i:{index}" in fields:
        return fields[f"i:{index}"]
    for name, child in fields.items():
        kind, _, rest = str(name).partition(":")
        if (kind == "k" and _keyed_item([item], rest) is not None) or (
                kind == "v" and _same_json(rest, item)):
            return child
    return None


def _same_scalar(live: Any, desired: Any) -> bool:
    # JSON has one number type (1 == 1.0), but a boolean is not a number.
    if isinstance(desired, bool) or isinstance(live, bool):
        return type(live) is type(desired) and live == desired
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return bool(live == desired)
    return type(live) is type(desired) and bool(live == desired)
