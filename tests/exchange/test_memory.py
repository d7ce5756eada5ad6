"""``bulk_allocations`` collects less often inside the block and restores the collector after it."""

from __future__ import annotations

import gc

import pytest

from exchange.memory import YOUNG_THRESHOLD, bulk_allocations


@pytest.fixture
def default_threshold():
    before = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*before)


def test_raises_the_young_threshold_inside_and_restores_it(default_threshold) -> None:
    with bulk_allocations():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)
        with bulk_allocations():  # nested: unchanged, and the inner exit does not restore
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert gc.get_threshold() == (700, 10, 10)


def test_restores_after_an_error_and_works_as_a_decorator(default_threshold) -> None:
    @bulk_allocations()
    def work() -> tuple[int, int, int]:
        return gc.get_threshold()

    assert work()[0] == YOUNG_THRESHOLD and work()[0] == YOUNG_THRESHOLD
    with pytest.raises(RuntimeError), bulk_allocations():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)

