"""Work split over forked processes: building profiles and comparing pairs, the steps of a full run that parallelise.

Each record's profile depends on its row only, and each pair's comparison vector on its two profiles only, so the
work splits into contiguous ranges, each done by a forked worker. Fork, not spawn: a worker inherits the rows,
profiles and pair list from the parent's memory instead of receiving a million pickled objects, and ``gc.freeze``
first keeps the collector from touching (and so copying) those inherited pages. What comes back is compact: a
worker comparing pairs sends its range's *distinct* vectors plus 4 bytes a pair, not an 11-tuple a pair.

Below ``min_items`` (default ``MIN_PARALLEL_ITEMS``: tests, small files) or with one worker everything runs
in-process: starting processes would cost more than it saves. The result is the same either way, in the order of
the input.

Two ways a forked pool used to hang for good, both closed here:

* A worker inherits its parent's signal handlers. Inside an Airflow task the parent has the task runner's SIGTERM
  handler, which does not exit; the pool's shutdown SIGTERMs a worker still waiting for work, and it never ended.
  Workers therefore put SIGTERM back to the default (and leave Ctrl-C to the parent) before anything else.
* A worker killed mid-range (out of memory, ``kill -9``) left ``multiprocessing.Pool.map`` waiting for a result
  that could never come. ``ProcessPoolExecutor`` notices the dead process; the run stops with a ``HubError`` that
  says so, and nothing was written (the full run writes its output only after all pairs are scored).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from array import array
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from crm_core.errors import HubError
from crm_core.forked import reset_inherited_signals

from ._compare import gamma
from ._profile import Profile

MIN_PARALLEL_ITEMS = 50_000
CHUNKS_PER_WORKER = 4  # a few ranges each, so a worker slowed by other load does not hold up the rest

Vector = tuple[int, ...]
Result = TypeVar("Result")

# The work the forked children run: set just before the pool forks, cleared after. A module global because that
# is what a forked child inherits without pickling (a closure over the rows or profiles is never pickled).
_work: Callable[[int, int], Any] | None = None


def default_workers() -> int:
    """All CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def map_ranges(
    work: Callable[[int, int], Result], total: int, workers: int, min_items: int = MIN_PARALLEL_ITEMS
) -> list[Result]:
    """``work(start, stop)`` over contiguous ranges covering ``range(total)``, in order (see the module docstring)."""
    if (workers <= 1 or total == 0 or total < min_items
            or "fork" not in multiprocessing.get_all_start_methods()):
        return [work(0, total)]
    global _work
    step = -(-total // (workers * CHUNKS_PER_WORKER))
    ranges = [(start, min(start + step, total)) for start in range(0, total, step)]
    _work = work
    gc.freeze()
    try:
        with ProcessPoolExecutor(workers, multiprocessing.get_context("fork"),
                                 initializer=reset_inherited_signals) as pool:
            return list(pool.map(_run_range, ranges))
    except BrokenProcessPool as exc:
        raise HubError(
            f"a worker process died before finishing its share ({workers} workers); killed, or out of memory? "
            "Nothing was written: run again, with fewer workers if memory is short") from exc
    finally:
        _work = None
        gc.unfreeze()


def _run_range(bounds: tuple[int, int]) -> Any:
    assert _work is not None, "map_ranges sets the work before forking"
    return _work(*bounds)


def gamma_vectors(
    profiles: Mapping[int, Profile], pairs: Sequence[tuple[int, int]], workers: int = 1,
    min_items: int = MIN_PARALLEL_ITEMS,
) -> list[Vector]:
    """The comparison vector of every pair, in the order of ``pairs``."""

    def compare(start: int, stop: int) -> tuple[list[Vector], array[int]]:
        index: dict[Vector, int] = {}
        out = array("I")
        for a, b in pairs[start:stop]:
            vector = gamma(profiles[a], profiles[b])
            i = index.get(vector)
            if i is None:
                i = index[vector] = len(index)
            out.append(i)
        return list(index), out

    vectors: list[Vector] = []
    for distinct, indices in map_ranges(compare, len(pairs), workers, min_items):
        vectors.extend([distinct[i] for i in indices])
    return vectors
