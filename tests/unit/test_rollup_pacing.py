"""The incremental roll-up refresh sizes its transactions by how long the last one took:
on SQLite every writer, the decision log included, waits while one runs."""

from __future__ import annotations

from serving.store.rollups import CHUNK, TRANSACTION_SECONDS, _next_size


def test_a_slow_transaction_makes_the_next_one_smaller() -> None:
    # 200 leads that took 10 s (long histories): about one second's worth next
    assert _next_size(200, 10 * TRANSACTION_SECONDS, CHUNK) == 20
    assert _next_size(1, 60 * TRANSACTION_SECONDS, CHUNK) == 1  # never nothing


def test_a_fast_transaction_grows_the_next_one_at_most_twofold_and_to_the_cap() -> None:
    assert _next_size(200, TRANSACTION_SECONDS / 100, CHUNK) == 400
    assert _next_size(4_000, 0.0, CHUNK) == CHUNK
    assert _next_size(7, 0.0, 7) == 7  # the caller's chunk stays the cap
