"""``serving.collector.few_collections``: the batch settings hold inside the block only.

``leadscore rescore`` runs in-process under the test suite's CliRunner: a block that
left the collector frozen or its thresholds raised would change every later test's
memory behaviour.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from serving.collector import THRESHOLDS, few_collections


def test_the_settings_hold_inside_and_are_put_back() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    with few_collections() as loaded:
        assert gc.get_threshold() == THRESHOLDS
        assert gc.get_freeze_count() > frozen
        kept = [[] for _ in range(1_000)]  # loaded after entry, frozen by loaded()
        loaded()
        assert gc.get_freeze_count() >= frozen + len(kept)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_they_are_put_back_when_the_block_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), few_collections():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_a_cycle_made_inside_is_still_collected() -> None:
    with few_collections():
        node = weakref.ref(_Node())
        gc.collect()
        assert node() is None
