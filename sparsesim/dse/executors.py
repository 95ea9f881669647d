"""Where sweep points run: in-process, a local process pool, or a Dask cluster.

All three are :class:`concurrent.futures.Executor` objects, so the sweep driver has
one code path: ``submit`` a chunk of points, ``wait`` for the first to finish,
append its rows.  For Dask the executor is ``Client(address).get_executor()``,
the concurrent.futures face of a ``distributed.Client``; the workers need
sparsesim installed (same version) and the arch/workload files reachable.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import InputError


class SerialExecutor(cf.Executor):
    """Runs each call at ``submit`` time in this process (``--jobs 1``; no pickling)."""

    def submit(self, fn, /, *args, **kwargs):
        fut = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # surfaced through fut.result(), like a pool would
            fut.set_exception(exc)
        return fut


@dataclass
class ExecutorInfo:
    """An open executor, how many points it runs at once, and a label for messages."""

    executor: cf.Executor
    workers: int
    label: str


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


@contextmanager
def open_executor(jobs: int | None = None, scheduler: str | None = None,
                  connect_timeout: str = "20s"):
    """Context manager yielding an :class:`ExecutorInfo`.

    * ``scheduler="tcp://host:port"``: a Dask distributed cluster (needs the
      ``dask`` extra); ``jobs`` is ignored, the cluster's thread count is used.
    * ``jobs == 1``: run in this process.
    * otherwise a process pool of ``jobs`` workers (default: the usable cores),
      started with ``spawn`` so that no thread or lock state of the parent leaks in.
    """
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise InputError(
                "--scheduler needs Dask distributed; install it with: pip install 'sparsesim[dask]'"
            ) from None
        try:
            client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise InputError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        try:
            workers = max(1, sum(client.nthreads().values()))
            yield ExecutorInfo(client.get_executor(pure=False), workers, f"dask {scheduler} ({workers} threads)")
        finally:
            client.close()
        return
    from .checks import check_jobs

    check_jobs(jobs)
    jobs = jobs or default_jobs()
    if jobs == 1:
        yield ExecutorInfo(SerialExecutor(), 1, "1 process")
        return
    pool = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield ExecutorInfo(pool, jobs, f"{jobs} processes")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
