"""Sacrificial worker process: runs one API call per request and classifies the outcome.

Runs as ``python -m fuzz.worker`` under the limits ``fuzz.run`` gives it. It imports
dicomdecode once (so a call costs a decode, not an import), then reads one JSON request a
line on stdin and answers one JSON line on the protocol pipe. Whatever kills it (a signal,
a hang the parent times out, the address-space limit) kills only this process; the parent
records the outcome and starts another.

The protocol uses a private copy of fd 1, and fd 1 itself is pointed at stderr, because
native decoders sometimes print to stdout and must not corrupt the answers.
"""

from __future__ import annotations

import faulthandler
import json
import os
import resource
import signal
import sys
import time
import traceback
import warnings
from typing import Any

# Outcomes decided here; crash and hang are decided by the parent.
OK, TYPED, UNTYPED, ZEROS, EMPTY_SILENT, BOMB, DISAGREE = (
    "ok", "typed", "untyped", "zeros", "empty_silent", "bomb", "disagree")
RSS_BOMB_BYTES = 2 << 30  # peak RSS growth of one call that counts as a bomb


def _limit_memory() -> None:
    """Cap the address space so a decompression bomb fails here, not on the machine."""
    limit = int(os.environ.get("FUZZ_RLIMIT_AS", str(4 << 30)))
    if limit > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _last_frame(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ""
    f = tb[-1]
    return f"{f.filename}:{f.lineno} in {f.name}"


def _all_zero(arrays: list[Any]) -> bool:
    """Every array is all zero, or holds floats none of which is finite: pixels lost
    without an error either way (a NaN Rescale Slope once made every voxel NaN)."""
    import numpy as np

    def lost(a: Any) -> bool:
        if getattr(a, "size", 0) == 0:
            return False
        if getattr(getattr(a, "dtype", None), "kind", "") == "f":
            return not np.isfinite(a).any() or not a.any()
        return not a.any()

    return bool(arrays) and all(lost(a) for a in arrays)


class Runner:
    """The API calls, plus the per-seed baselines the ``zeros`` class compares against."""

    def __init__(self) -> None:
        import dicomdecode
        from dicomdecode.errors import DicomDecodeError

        self.dd = dicomdecode
        self.typed_error = DicomDecodeError
        self._baseline: dict[tuple[str, str], bool | None] = {}
        self.load = dicomdecode.load  # resolve the lazy import now, not inside a call
        # what fuzz.run's --call-workers put there (1 unless asked)
        self.workers = int(os.environ.get("DICOMDECODE_WORKERS", "1") or 1)

    def arrays(self, api: str, path: str) -> tuple[list[Any], list[str]]:
        """Call ``api`` on one file; return the arrays it produced and the warnings."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if api == "decode_file":
                out = [self.dd.decode_file(path)]
            elif api == "load":
                out = [v.array for v in self.load([path], workers=self.workers)]
            elif api == "scan":
                self.dd.scan([path], workers=self.workers)
                out = []
            elif api == "slice_dataset":
                # a data loader's view: every item read, a typed error costing that item
                from dicomdecode.apps.ml import SliceDataset

                dataset = SliceDataset([path], verify=False, scan_workers=1)
                out = []
                for i in range(len(dataset)):
                    try:
                        out.append(dataset[i]["image"])
                    except self.typed_error:
                        continue
            elif api == "_test_abort":
                os.abort()
            elif api == "_test_sleep":
                time.sleep(3600)
                out = []
            elif api == "_test_keyerror":
                raise KeyError("test hook")
            elif api == "_test_memory":
                out = [bytearray(64 << 30)]
            else:
                raise ValueError(f"unknown api {api!r}")
        return out, [str(w.message) for w in caught]

    def seed_nonzero(self, api: str, seed_path: str) -> bool | None:
        """Whether the unmutated seed decodes to something non-zero (None: it fails)."""
        key = (api, seed_path)
        if key not in self._baseline:
            try:
                arrays, _ = self.arrays(api, seed_path)
                self._baseline[key] = bool(arrays) and not _all_zero(arrays)
            except Exception:
                self._baseline[key] = None
        return self._baseline[key]

    def call(self, req: dict[str, Any]) -> dict[str, Any]:
        api, path = req["api"], req["path"]
        before = _maxrss()
        t0 = time.perf_counter()
        res: dict[str, Any] = {}
        try:
            if api == "agree":
                return self._timed(self.agree(path), before, t0)
            arrays, caught = self.arrays(api, path)
        except MemoryError as exc:
            res = {"class": BOMB, "detail": f"MemoryError: {exc}", "where": _last_frame(exc)}
        except self.typed_error as exc:
            res = {"class": TYPED, "detail": f"{type(exc).__name__}: {exc}"}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # pyo3's PanicException is a BaseException
            res = {"class": UNTYPED, "detail": f"{type(exc).__name__}: {exc}"[:2000],
                   "where": _last_frame(exc)}
        else:
            res = {"class": OK, "detail": ""}
            name = os.path.basename(path)
            if api == "load" and not arrays and not any(name in w for w in caught):
                seed_empty = self.seed_nonzero(api, req["seed_path"]) is None
                res = {"class": EMPTY_SILENT,
                       "detail": f"load returned [] with no warning naming the file"
                                 f"{' (seed also fails/empty)' if seed_empty else ''}; "
                                 f"warnings: {caught[:3]}"}
            elif arrays and _all_zero(arrays) and self.seed_nonzero(api, req["seed_path"]):
                res = {"class": ZEROS, "detail": "all-zero array, seed decodes non-zero; "
                                                 f"shapes {[a.shape for a in arrays]}"}
            del arrays
        return self._timed(res, before, t0)

    def agree(self, path: str) -> dict[str, Any]:
        """Every entry point on one file (fuzz.differential): ``disagree`` when they give
        different pixels or one decodes what another refuses; ``untyped`` when a road
        raises something that is not a DicomDecodeError; else ok (or typed: all refuse)."""
        from fuzz.differential import check

        verdict = check(path)
        if verdict.untyped:
            return {"class": UNTYPED, "detail": verdict.untyped[:2000]}
        if verdict.disagree:
            return {"class": DISAGREE, "detail": verdict.disagree[:2000]}
        refused = all(o.refused or o.not_applicable for o in verdict.outcomes)
        return {"class": TYPED if refused else OK,
                "detail": verdict.outcomes[0].summary()[:300] if refused else ""}

    def _timed(self, res: dict[str, Any], before: int, t0: float) -> dict[str, Any]:
        growth = _maxrss() - before
        res["rss_growth"] = growth
        res["maxrss"] = _maxrss()
        res["seconds"] = round(time.perf_counter() - t0, 3)
        if growth > RSS_BOMB_BYTES and res["class"] in (OK, TYPED, ZEROS):
            res["detail"] = f"peak RSS grew {growth >> 20} MiB; then {res['class']}: " + \
                res["detail"]
            res["class"] = BOMB
        return res


def main() -> None:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _limit_memory()
    # The parent sends SIGUSR1 before killing a hung call: the stack says where it hung.
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    runner = Runner()
    proto.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        if not line.strip():
            continue
        proto.write(json.dumps(runner.call(json.loads(line))) + "\n")


if __name__ == "__main__":
    main()
