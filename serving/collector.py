"""Python's cycle collector set for a process that holds much and frees little.

The server (for its lifetime, ``serving.app``) and ``leadscore rescore`` use it.

``leadscore rescore`` keeps hundreds of thousands of objects alive for its whole run
(the imported libraries, the model, a batch of snapshots with their touch timelines)
and makes a few hundred thousand short-lived ones per batch (records, reasons, rows),
nearly all freed by reference counting. With CPython's default thresholds (700, 10,
10) the collector ran ~500 times in a re-score of 10,000 leads at 1M rows, and its full
passes walked every live object: 1.2 s of the process's 7.2 s of CPU, for about a
thousand objects collected. Freezing what is loaded (moved out of the collector's
sight, ``gc.freeze``) and collecting the young generation every 10,000 allocations
instead of 700 took the CPU to 6.0 s, the same as with the collector off, at the same
peak RSS (cycles are still collected, only less often).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator

THRESHOLDS = (10_000, 50, 50)
"""``gc.set_threshold`` while the server or a batch command runs: young collections every 10,000
allocations, older generations after 50 of the one below (defaults: 700, 10, 10)."""


@contextlib.contextmanager
def few_collections() -> Iterator[Callable[[], None]]:
    """Collect seldom, and never walk what is loaded, inside the ``with`` block.

    What exists on entry is frozen; the block calls the function it is given
    (``gc.freeze``) once more when it has loaded what it keeps for the rest of the run
    (the model, the store). On exit the thresholds are put back and the frozen objects
    are handed back to the collector, so a caller in a longer process (a test) is left
    as it was.
    """
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield gc.freeze
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
