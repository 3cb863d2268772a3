"""How work is spread over a dask.distributed cluster (``--scheduler``, ``client=``).

The cluster runs the same tasks as the local process pool (``parallel.py``): the same
functions, the same arguments, results handed back in the same form, so the caller has one
road whatever runs it. Dask does the scheduling, the rescheduling of a task whose worker
died, and the counting of deaths: a task that kills ``distributed.scheduler.allowed-failures``
workers is given up with ``KilledWorker``, which comes back here as the same
:class:`~dicomdecode.engine.parallel.WorkerDied` that a local pool gives. No home-made
scheduler.

``distributed`` is an optional dependency (``pip install "dicomdecode[dask]"``); it is only
imported when a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dicomdecode.engine import parallel
from dicomdecode.options import parse_scheduler

DASK_HINT = 'pip install "dicomdecode[dask]"'

#: Files per scan task at most: a partition's headers (a few kB per file) must stay small
#: next to a worker's memory, and a task that dies costs at most this many re-reads.
MAX_SCAN_PARTITION = 1000
#: Scan tasks per worker at least, so that one slow partition does not leave others idle.
SCAN_TASKS_PER_WORKER = 4


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"running on a Dask cluster needs dask.distributed: {DASK_HINT}"
                          ) from exc
    return distributed


@contextlib.contextmanager
def connect(scheduler: str) -> Iterator[Any]:
    """A ``distributed.Client`` for a ``--scheduler`` value, closed on exit.

    ``local:N`` starts a LocalCluster of N worker processes (one thread each: our codecs
    hold the GIL, so processes are the unit of parallelism) and stops it afterwards; an
    address (``tcp://host:8786``) connects to a running scheduler and leaves it running."""
    target = parse_scheduler(scheduler)
    distributed = _distributed()
    if isinstance(target, int):
        with distributed.LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as local, \
                distributed.Client(local) as client:
            yield client
    else:
        with distributed.Client(target) as client:
            yield client


def dashboard_link(client: Any) -> str | None:
    """The dashboard's address when the scheduler runs one (it needs bokeh), else None."""
    try:
        if "dashboard" not in client.scheduler_info().get("services", {}):
            return None
        return str(client.dashboard_link)
    except Exception:  # an old or odd scheduler: no link is no harm
        return None


def _run_task(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """On a worker: ``fn(*args)`` with any exception returned as the result (as the local
    pool does), and no core dumps from a codec that aborts the worker."""
    parallel._worker_setup()
    return parallel._call((fn, args))


class ClusterEngine:
    """The engine interface of :mod:`parallel` (``run_unordered``), on a Dask client.

    Args:
        client: a connected ``distributed.Client``. Workers must import the same
            dicomdecode and read the same paths (a shared filesystem): tasks carry file
            names, never pixels, and write their outputs themselves.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    def workers(self) -> int:
        """Workers now connected (at least 1, so sizes computed from it stay sane)."""
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run_unordered(self, tasks: Sequence[parallel.Task], workers: int = 0, *,
                      share_memory: bool = False, timeout: float | None = None,
                      isolate: bool = False, held: Sequence[int] | None = None,
                      budget: int | None = None) -> Iterator[tuple[parallel.Task, Any]]:
        """Submit every task; yield ``(task, result)`` in the order they finish.

        Same contract as :func:`parallel.run_unordered` (`workers`, `share_memory`,
        `isolate`, `held` and `budget` mean nothing here: the cluster decides, its workers
        have memory of their own; every task already runs in a worker process). A task whose worker died is run again by Dask. One that was given
        up after ``allowed-failures`` deaths is run once more alone, after the others (Dask
        also counts a death against the tasks queued on that worker, so an innocent task
        can be given up next to a killer); if it is given up again it yields
        :class:`parallel.WorkerDied`. `timeout` is not enforced on a cluster (Dask has no
        per-task time limit); see the README's limits.
        """
        distributed = _distributed()
        tasks = list(tasks)
        if not tasks:
            return
        futures = {self._submit(task): task for task in tasks}
        given_up: list[parallel.Task] = []
        for future in distributed.as_completed(futures):
            task = futures.pop(future)
            result = self._result(future)
            future.release()
            if isinstance(result, parallel.WorkerDied):
                given_up.append(task)
            else:
                yield task, result
        for task in given_up:  # isolation: each alone, so a death names its task
            future = self._submit(task)
            distributed.wait([future])
            yield task, self._result(future)
            future.release()

    def _submit(self, task: parallel.Task) -> Any:
        fn, args = task
        key = f"dicomdecode-{getattr(fn, '__name__', 'task').strip('_')}-{uuid.uuid4().hex}"
        return self.client.submit(_run_task, fn, args, key=key, pure=False)

    def _result(self, future: Any) -> Any:
        try:
            return future.result()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if type(exc).__name__ == "KilledWorker":
                return parallel.WorkerDied(
                    f"the task killed {self._allowed_failures() + 1} Dask workers, among "
                    "others and then alone (distributed.scheduler.allowed-failures="
                    f"{self._allowed_failures()}), and was given up", None)
            return exc  # lost connection, cancelled: reported, never lost

    @staticmethod
    def _allowed_failures() -> int:
        import dask

        return int(dask.config.get("distributed.scheduler.allowed-failures", 3))

    def map_chunks(self, function: Callable[[Sequence[Any]], list[Any]],
                   items: Sequence[Any]) -> list[Any]:
        """``function(items)`` computed as partitions on the workers, in order.

        `function` maps a list of items to a list of results of the same length. A
        partition that fails (an item kills its worker every time) is run again one item
        per task, so only that item is lost: its place in the list holds the exception
        (:class:`parallel.WorkerDied` for a worker killed every time)."""
        items = list(items)
        if not items:
            return []
        size = max(1, min(MAX_SCAN_PARTITION,
                          math.ceil(len(items) / (SCAN_TASKS_PER_WORKER * self.workers()))))
        chunks = [items[i:i + size] for i in range(0, len(items), size)]
        tasks: list[parallel.Task] = [(function, (chunk,)) for chunk in chunks]
        done = dict(self._by_id(self.run_unordered(tasks)))
        out: list[Any] = []
        for task, chunk in zip(tasks, chunks, strict=True):
            result = done.pop(id(task))
            if isinstance(result, BaseException) and len(chunk) > 1:
                singles: list[parallel.Task] = [(function, ([item],)) for item in chunk]
                again = dict(self._by_id(self.run_unordered(singles)))
                for single in singles:
                    one = again.pop(id(single))
                    out.extend([one] if isinstance(one, BaseException) else one)
            else:
                out.extend([result] if isinstance(result, BaseException) else result)
        return out

    @staticmethod
    def _by_id(pairs: Iterator[tuple[parallel.Task, Any]]) -> Iterator[tuple[int, Any]]:
        for task, result in pairs:
            yield id(task), result


__all__ = ["ClusterEngine", "DASK_HINT", "connect", "dashboard_link"]
