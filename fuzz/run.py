"""Run mutants through dicomdecode's public API in sacrificial workers and classify them.

    python -m fuzz.run --count 2000 --seed 1 [--api decode_file,load,scan,slice_dataset]
                       [--every 5] [--workers 2] [--json out.json] [--keep-dir DIR]
    python -m fuzz.run --only 000123 --seed 1 --keep-dir DIR    # rebuild and rerun one
    python -m fuzz.run --seeds htj2k,jpegxl,'*rle*' --count 5000   # only these seeds

Outcome classes per call: ``ok`` and ``typed`` (a DicomDecodeError) are fine; ``crash``
(worker killed by a signal), ``hang`` (past --timeout), ``bomb`` (MemoryError under the
worker's address-space cap, or peak RSS growth above 2 GiB), ``untyped`` (any other
exception), ``zeros`` (all-zero result where the seed is not), ``empty_silent`` (``load``
returned [] without a warning naming the file) and ``disagree`` (the ``agree`` api:
decode_file, decode(bytes), load, SliceDataset, convert --format npy and
compat.combine_slices give different pixels, or some decode what others refuse; see
``fuzz.differential``) are bugs, and make the exit status 1.

Why subprocesses: a crash or a bomb in a native decoder must cost one worker, not the run,
and a hang can only be stopped by killing the process that hangs.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuzz.mutate import REPO_ROOT, Mutant, SeedSet, default_seed_files, mutant_at

BAD = ["crash", "hang", "bomb", "untyped", "zeros", "empty_silent", "disagree"]
CLASSES = ["ok", "typed", *BAD]
RECYCLE_RSS = 3 << 29  # restart a worker whose high-water mark passed 1.5 GiB
STARTUP_TIMEOUT = 120.0
AGREE_ROADS = 6  # len(fuzz.differential.ROADS), without importing dicomdecode here
MEMORY_WORDS = ("bad_alloc", "MemoryError", "Cannot allocate memory", "out of memory")


#: dicomdecode's worker count inside each fuzz worker (--call-workers): 1 by default, as
#: the run already uses every core; more exercises the in-process decode threads (a
#: multi-frame file's frames when the codec releases the GIL), where a codec's thread
#: safety and the per-thread error reporting of the handlers are tested
CALL_WORKERS = 1


def _worker_env() -> dict[str, str]:
    """One thread per worker unless --call-workers: the run already uses every core, and
    threads cost memory."""
    env = dict(os.environ)
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "DICOMDECODE_WORKERS": str(CALL_WORKERS), "MALLOC_ARENA_MAX": "2",
                "PYTHONWARNINGS": "ignore"})
    path = [str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


class Worker:
    """One long-lived ``fuzz.worker`` process, restarted whenever it dies or is killed."""

    def __init__(self, slot: int, logdir: Path) -> None:
        self.stderr_path = logdir / f"worker{slot}.stderr"
        self.proc: subprocess.Popen[bytes] | None = None
        self.buf = b""
        self.restarts = 0

    def start(self) -> None:
        self.buf = b""
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fuzz.worker"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=err, cwd=REPO_ROOT, env=_worker_env())
        line = self._readline(time.monotonic() + STARTUP_TIMEOUT)
        if line is None or not json.loads(line).get("ready"):
            raise RuntimeError(f"worker failed to start: {self._stderr_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                if f is not None:
                    f.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    def _readline(self, deadline: float) -> bytes | None:
        """A line from the worker, or None at EOF or at the deadline (check proc.poll())."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def _stderr_size(self) -> int:
        try:
            return self.stderr_path.stat().st_size
        except OSError:
            return 0

    def _stderr_tail(self, since: int = 0, n: int = 4000) -> str:
        """What the worker wrote to stderr since offset ``since`` (at most the last n bytes)."""
        try:
            with open(self.stderr_path, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(since, fh.tell() - n))
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def call(self, req: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Run one request; a dead or stuck worker is classified here and replaced."""
        if self.proc is None or self.proc.poll() is not None:
            self.restart()
        assert self.proc is not None and self.proc.stdin is not None
        since = self._stderr_size()
        t0 = time.monotonic()
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self._readline(t0 + timeout)
        if line is not None:
            res: dict[str, Any] = json.loads(line)
            if res["class"] == "bomb" or res.get("maxrss", 0) > RECYCLE_RSS:
                self.restart()  # reset ru_maxrss so the next call is measured from low
            return res
        seconds = round(time.monotonic() - t0, 3)
        if time.monotonic() < t0 + timeout:  # EOF before the deadline: the worker is dying
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)  # faulthandler: dump the stuck stack
            time.sleep(0.3)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            frames = [ln.strip() for ln in self._stderr_tail(since).splitlines()
                      if ln.strip().startswith("File ")]
            res = {"class": "hang", "detail": f"no answer after {timeout:g} s (killed)",
                   "where": " <- ".join(frames[:5])}
        else:
            tail = self._stderr_tail(since)
            rc = self.proc.returncode
            how = (f"signal {signal.Signals(-rc).name}" if rc < 0 else f"exit status {rc}")
            last = [ln for ln in tail.strip().splitlines() if ln.strip()][-6:]
            res = {"class": "crash", "detail": f"worker died: {how}", "where": " | ".join(last)}
            if any(w in tail for w in MEMORY_WORDS):
                res["class"] = "bomb"
        res["seconds"] = seconds
        self.restart()
        return res


@dataclass
class Task:
    mutant: Mutant
    api: str
    path: Path
    seed_path: str


class Plan:
    """Hands out (mutant, api) calls to worker threads; writes and deletes mutant files."""

    def __init__(self, seeds: SeedSet, indices: list[int], seed: int, apis: list[str],
                 every: int, tmp: Path) -> None:
        self.seeds, self.seed, self.apis, self.every, self.tmp = seeds, seed, apis, every, tmp
        self.indices = indices
        self.lock = threading.Lock()
        self.pending: Counter[str] = Counter()
        self.seed_paths = {s.label: str(s.path) for s in seeds.seeds}
        self._it = self._tasks()
        self.stop = threading.Event()  # set: hand out nothing more, finish what runs
        self.deadline = float("inf")

    def apis_for(self, index: int) -> list[str]:
        """decode_file on every mutant; the slower whole-pipeline APIs on every Nth."""
        return [a for a in self.apis if a == "decode_file" or index % self.every == 0]

    def _tasks(self) -> Iterator[Task]:
        for i in self.indices:
            m = mutant_at(self.seeds, self.seed, i)
            apis = self.apis_for(i)
            if not apis:
                continue
            path = self.tmp / f"m{m.id}.dcm"
            path.write_bytes(m.data)
            self.pending[m.id] = len(apis)
            for api in apis:
                yield Task(m, api, path, self.seed_paths[m.seed_file])

    def next(self) -> Task | None:
        if self.stop.is_set() or time.monotonic() > self.deadline:
            return None
        with self.lock:
            return next(self._it, None)

    def done(self, task: Task, keep_dir: Path | None, bad: bool) -> None:
        with self.lock:
            if bad and keep_dir is not None:
                shutil.copyfile(task.path, keep_dir / f"{task.mutant.id}.dcm")
            self.pending[task.mutant.id] -= 1
            if self.pending[task.mutant.id] == 0:
                del self.pending[task.mutant.id]
                task.path.unlink(missing_ok=True)


def run(seeds: SeedSet, indices: list[int], seed: int, apis: list[str], *, every: int = 5,
        workers: int = 2, timeout: float = 10.0, keep_dir: Path | None = None,
        progress: bool = True, max_seconds: float | None = None,
        stop: threading.Event | None = None) -> list[dict[str, Any]]:
    """Every (mutant, api) call's outcome, in completion order.

    ``max_seconds`` or setting ``stop`` ends the run early but cleanly (the calls in flight
    finish), so a time-boxed run still reports and writes its JSON.
    """
    results: list[dict[str, Any]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    with tempfile.TemporaryDirectory(prefix="dicomfuzz-") as tmpname:
        tmp = Path(tmpname)
        plan = Plan(seeds, indices, seed, apis, every, tmp)
        if stop is not None:
            plan.stop = stop
        if max_seconds:
            plan.deadline = time.monotonic() + max_seconds
        total = sum(len(plan.apis_for(i)) for i in indices)
        t0 = time.monotonic()

        live_workers: list[Worker] = []

        def loop(slot: int) -> None:
            w = Worker(slot, tmp)
            live_workers.append(w)
            try:
                w.start()
                while (task := plan.next()) is not None:
                    req = {"api": task.api, "path": str(task.path),
                           "seed_path": task.seed_path}
                    # 'agree' makes one call per entry point (fuzz.differential.ROADS)
                    res = w.call(req, timeout * (AGREE_ROADS if task.api == "agree" else 1))
                    m = task.mutant
                    res.update(id=m.id, seed_file=m.seed_file, kind=m.kind,
                               description=m.description, api=task.api)
                    plan.done(task, keep_dir, res["class"] in BAD)
                    with lock:
                        results.append(res)
                        n = len(results)
                    if progress and (n % 250 == 0 or n == total):
                        print(f"[fuzz] {n}/{total} calls, {time.monotonic() - t0:.0f} s",
                              file=sys.stderr, flush=True)
            except BaseException as exc:  # surface in the main thread, do not hang
                errors.append(exc)
            finally:
                w.stop()

        threads = [threading.Thread(target=loop, args=(k,), daemon=True)
                   for k in range(max(1, workers))]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.5)
        finally:
            for w in live_workers:  # interrupted: no orphan left decoding a bomb
                if w.proc is not None and w.proc.poll() is None:
                    w.proc.kill()
        if errors:
            raise errors[0]
    return results


def table(results: list[dict[str, Any]], apis: list[str]) -> str:
    """Counts per API x class, the bad classes marked."""
    counts = Counter((r["api"], r["class"]) for r in results)
    head = f"{'api':<14}" + "".join(f"{c:>14}" for c in CLASSES) + f"{'total':>8}"
    rows = [head, "-" * len(head)]
    for api in apis:
        n = [counts[(api, c)] for c in CLASSES]
        rows.append(f"{api:<14}" + "".join(f"{v:>14}" for v in n) + f"{sum(n):>8}")
    return "\n".join(rows)


def timing(results: list[dict[str, Any]], apis: list[str]) -> dict[str, dict[str, Any]]:
    """Per API: calls, mean, median and slowest call (seconds as the worker or, for a
    hang or crash, the parent measured them) and the mutant that took it."""
    out: dict[str, dict[str, Any]] = {}
    for api in apis:
        rows = sorted((r.get("seconds", 0.0), r["id"]) for r in results if r["api"] == api)
        if rows:
            times = [t for t, _ in rows]
            out[api] = {"calls": len(rows), "mean_s": round(sum(times) / len(times), 4),
                        "p50_s": times[len(times) // 2], "max_s": rows[-1][0],
                        "max_id": rows[-1][1]}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fuzz.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0, help="first mutant index")
    ap.add_argument("--api", default="decode_file,load,scan,slice_dataset,agree",
                    help="'agree' puts each mutant through every entry point "
                         "(fuzz.differential) and counts 'disagree'")
    ap.add_argument("--every", type=int, default=5,
                    help="run APIs other than decode_file on every Nth mutant")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-seconds", type=float,
                    help="stop starting new calls after this long (the report still comes)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--keep-dir", type=Path)
    ap.add_argument("--only", help="comma-separated mutant ids: write them to --keep-dir, rerun")
    ap.add_argument("--call-workers", type=int, default=1,
                    help="dicomdecode workers per call (DICOMDECODE_WORKERS and load/scan "
                         "workers=); > 1 decodes multi-frame files on threads")
    ap.add_argument("--seeds", help="mutate only the seeds matching one of these comma-separated "
                                    "terms: a codec family (htj2k, jpegxl, jpegls, rle, j2k, "
                                    "jpeg, jpeg-lossless, native, deflate), a transfer syntax "
                                    "UID or a path glob ('*rle*'); ids depend on it, so "
                                    "reproduce with the same --seeds")
    args = ap.parse_args(argv)
    # SIGTERM (nox, CI timeouts): stop handing out mutants, report what was done.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    apis = [a.strip() for a in args.api.split(",") if a.strip()]
    global CALL_WORKERS
    CALL_WORKERS = max(1, args.call_workers)
    if args.keep_dir:
        args.keep_dir.mkdir(parents=True, exist_ok=True)
    try:
        seeds = SeedSet(default_seed_files(), select=args.seeds)
    except ValueError as exc:
        ap.error(str(exc))
    if args.only:
        indices = [int(x) for x in args.only.split(",") if x.strip()]
        every = 1
        if args.keep_dir:
            for i in indices:
                m = mutant_at(seeds, args.seed, i)
                (args.keep_dir / f"{m.id}.dcm").write_bytes(m.data)
                print(f"{m.id}: {m.kind} of {m.seed_file}: {m.description} -> "
                      f"{args.keep_dir / (m.id + '.dcm')}")
    else:
        indices = list(range(args.start, args.start + args.count))
        every = max(1, args.every)

    t0 = time.monotonic()
    results = run(seeds, indices, args.seed, apis, every=every, workers=args.workers,
                  timeout=args.timeout, keep_dir=args.keep_dir, progress=not args.only,
                  max_seconds=args.max_seconds, stop=stop)
    done = len({r["id"] for r in results})
    stopped = done < sum(any(a == "decode_file" or i % every == 0 for a in apis)
                         for i in indices)
    elapsed = time.monotonic() - t0
    results.sort(key=lambda r: (r["id"], apis.index(r["api"]) if r["api"] in apis else 0))
    if args.only:
        for r in results:
            print(f"{r['id']} {r['api']}: {r['class']} {r.get('detail', '')} "
                  f"{r.get('where', '')}".rstrip())
    print(table(results, apis))
    n_bad = sum(r["class"] in BAD for r in results)
    print(f"{done} mutants{' (stopped early)' if stopped else ''}, {len(results)} calls, "
          f"{elapsed:.1f} s ({done / max(elapsed, 1e-9):.1f} mutants/s), {n_bad} bad outcome(s)")
    slow = timing(results, apis)
    print("slowest call per api: " + ", ".join(
        f"{api} {t['max_s']:.3f} s ({t['max_id']})" for api, t in slow.items()))
    if args.json:
        counts: dict[str, dict[str, int]] = {a: dict.fromkeys(CLASSES, 0) for a in apis}
        for r in results:
            counts.setdefault(r["api"], dict.fromkeys(CLASSES, 0))[r["class"]] += 1
        cases = [{k: r.get(k, "") for k in ("id", "seed_file", "kind", "description", "api",
                                            "class", "detail", "where", "seconds")}
                 for r in results if r["class"] in BAD]
        args.json.write_text(json.dumps({
            "seed": args.seed, "count": done, "stopped_early": stopped, "apis": apis, "every": every,
            "timeout": args.timeout, "call_workers": CALL_WORKERS, "elapsed_s": round(elapsed, 1), "counts": counts,
            "mutants_per_s": round(done / max(elapsed, 1e-9), 1), "timing": slow,
            "seeds": args.seeds or "", "seed_files": len(seeds.seeds),
            "reproduce": f"python -m fuzz.run --only ID --seed {args.seed} --keep-dir DIR"
                         + (f" --seeds '{args.seeds}'" if args.seeds else "")
                         + (f" --call-workers {CALL_WORKERS}" if CALL_WORKERS > 1 else ""),
            "cases": cases}, indent=1))
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
