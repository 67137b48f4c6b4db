"""After a rules swap the heap is settled: one collection reclaims what the swap dropped,
cycles included, and what survives is frozen, out of the collector's later walks."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from webhook.server.rules import settle_heap


class Node:
    """An object in a reference cycle, as a Policy's objects can be."""

    def __init__(self) -> None:
        self.itself = self


@pytest.fixture
def thawed() -> Iterator[None]:
    """Leaves the pytest process unfrozen, as it was, whatever the test does."""
    yield
    gc.unfreeze()


@pytest.mark.usefixtures("thawed")
def test_the_settlement_freezes_survivors_and_the_next_one_reclaims_their_dropped_cycles(
) -> None:
    served = Node()
    alive = weakref.ref(served)
    settle_heap()
    assert gc.get_freeze_count() > 0
    assert gc.is_tracked(served)
    assert not any(obj is served for obj in gc.get_objects())  # frozen: never walked

    del served  # the swap drops the old snapshot; its cycle keeps it alive
    gc.collect()
    assert alive() is not None, "a frozen cycle outlives an ordinary collection"
    settle_heap()
    assert alive() is None, "the next settlement reclaims the cycle the swap dropped"
