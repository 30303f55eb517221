"""Threads for the click method's independent runs (the confidence's jittered clicks)."""

from __future__ import annotations

from typing import Optional


def threads_for(threads: Optional[int], n: int) -> int:
    """Threads for ``n`` independent runs: ``threads``, or the cores this process may use
    (``os.sched_getaffinity`` where there is one), at most ``n``."""
    import os

    if threads is None:
        threads = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1)
    return max(1, min(int(threads), int(n)))


def thread_map(fn, items, threads: int) -> list:
    """``[fn(x) for x in items]``, on ``threads`` threads when more than one (in order)."""
    if threads <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as ex:
        return list(ex.map(fn, items))
