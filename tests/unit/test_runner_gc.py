"""A started service settles the garbage collector: what it imported and set up is frozen, and
the youngest generation is collected less often (`runner.settle_gc`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from raybus_common.runner import GC_THRESHOLD, settle_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_gc_freezes_what_is_there_and_raises_the_threshold(restored_gc: None) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    settle_gc()
    assert gc.get_freeze_count() > 1000  # the modules and objects made so far
    assert gc.get_threshold() == GC_THRESHOLD and GC_THRESHOLD[0] > 700


def test_cycles_made_after_settling_are_still_collected(restored_gc: None) -> None:
    settle_gc()

    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    import weakref
    alive = weakref.ref(a)
    del a, b
    gc.collect()
    assert alive() is None
