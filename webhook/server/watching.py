"""Noticing when files the server reads change, however they are replaced.

Files reach a pod in three ways, each replaced differently:

* plain files edited or renamed in place (``egressguard certs`` writes with ``rename``);
* Secret and ConfigMap volumes: each visible entry is a symlink into ``..data``, itself a
  symlink that the kubelet swaps to a new timestamped folder; nothing inside the old
  folder changes, so the *mount folder* must be watched;
* git-sync: ``<root>/current`` is a symlink swapped to a new worktree, so the folder
  holding the symlink must be watched, not the worktree it points at.

So the watched folders are: the real folder (resolved), and the parent of every symlink on
the way to it. After each batch the set is recomputed; when a swap moved it, the watch
restarts on the new set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from watchfiles import awatch

log = logging.getLogger("egressguard.watch")


def watch_roots(path: Path) -> frozenset[Path]:
    """The folders to watch so that any change to ``path``, or swap above it, is seen."""
    absolute = Path(os.path.abspath(path))
    resolved = absolute.resolve()
    roots = {resolved if resolved.is_dir() else resolved.parent}
    for step in (absolute, *absolute.parents):
        if step.is_symlink():
            roots.add(step.parent.resolve())
    return frozenset(root for root in roots if root.is_dir())


def roots_of(paths: tuple[Path, ...]) -> frozenset[Path]:
    return frozenset().union(*(watch_roots(path) for path in paths))


async def changes(
    paths: Callable[[], frozenset[Path]],
    *,
    debounce_ms: int,
    stop: asyncio.Event,
) -> AsyncIterator[None]:
    """Yields once per debounced batch of changes under ``paths()``, until ``stop`` is set.

    Also yields when the watched set itself changed between two watches (a folder that
    appeared, as git-sync's first checkout does): no event inside it will come for what is
    already there.
    """
    watched: frozenset[Path] | None = None
    while not stop.is_set():
        roots = paths()
        if watched is not None and roots != watched:
            yield
        watched = roots
        if not roots:
            # Nothing to watch yet (a volume not mounted): look again shortly.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(debounce_ms, 1000) / 1000)
            continue
        log.debug("watching %s", ", ".join(sorted(map(str, roots))))
        async for _batch in awatch(
            *roots,
            debounce=debounce_ms,
            step=min(50, debounce_ms),
            stop_event=stop,
            watch_filter=None,
            recursive=True,
            ignore_permission_denied=True,
        ):
            yield
            if paths() != roots:
                break
