"""The conversion job: scan a tree, load each series, write it, account for every file.

``convert(src, dst, fmt=...)`` never stops at a bad file: a file that cannot be read or
decoded is ``failed`` with its reason and everything else is still written. Every file under
``src`` appears in the report exactly once, as ``converted``, ``kept`` (its output from an
earlier run is current, ``resume=True``), ``skipped`` (not an image, or a duplicate copy of
one) or ``failed``. A series missing any slice that could not be decoded is never written as
if it were whole: it fails, or with ``allow_partial=True`` is written with status
``partial``. Outputs are written atomically, so after a crash an output under its final
name is complete; ``resume=True`` then keeps those whose sources did not change,
``force=True`` overwrites them.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dicomdecode.apps.naming import (
    is_within,
    mirrored_path,
    scrub_identifiers,
    series_name,
    short_hash,
)
from dicomdecode.apps.rerun import EXISTS_HINT, record_sources, sources_unchanged
from dicomdecode.engine import parallel
from dicomdecode.errors import DicomDecodeError, InconsistentSeriesError
from dicomdecode.options import HandlerChoice, Options, RescaleMode
from dicomdecode.writers import (
    FORMATS,
    SLICES_SUFFIX,
    VOLUME_FORMATS,
    clean_temporaries,
    output_paths,
    write_json,
)
from dicomdecode.writers.settings import WriteOptions

CONVERTED, KEPT, SKIPPED, FAILED = "converted", "kept", "skipped", "failed"
#: series status (never a file's): written without the slices that could not be decoded
PARTIAL = "partial"
RESUMED = "output already present and its sources unchanged (--resume)"
#: the start of the reason of every series/file not rewritten because its output exists
OUTPUT_EXISTS = "output exists"
_MAX_RETRIES = 8
#: the stored-values road decodes and writes overlapped (:mod:`dicomdecode.apps.overlapped`);
#: False: decode the whole series, then write it (the tests compare both roads' files)
OVERLAP = True


@dataclass(frozen=True)
class JobSettings:
    """What every conversion task needs besides its series: the checked decode options and
    the output policy. Picklable, so tasks carry it to worker processes."""

    options: Options
    fmt: str
    dst: str
    force: bool = False
    resume: bool = False
    include_patient: bool = False
    #: write a series that lost slices to decode failures (status ``partial``)
    allow_partial: bool = False
    #: when this run started (time.time_ns()): outputs newer than that were written by this
    #: run, by a task that is being run again after its worker died, and may be replaced
    started_ns: int = 0
    #: fsspec options for series whose files are URLs (read by the worker itself)
    storage_options: dict[str, Any] | None = None
    #: compression level, .nii.gz or .nii, compact dtype (checked where the user gave them)
    write: WriteOptions = field(default_factory=WriteOptions)

    def targets(self, base: str, fmt: str) -> list[Path]:
        """The outputs of one series written to ``base`` as ``fmt`` under these settings."""
        return output_paths(base, fmt, compress=self.write.compress)

    def ours(self, paths: list[Path]) -> bool:
        """True when every one of `paths` was written by this run (the kernel stamps files
        with a clock up to a tick behind time.time_ns(): 10 ms of slack)."""
        since = self.started_ns - 10_000_000
        try:
            return bool(paths) and all(p.stat().st_mtime_ns >= since for p in paths)
        except OSError:
            return False


@dataclass
class FileEntry:
    """One input file's fate. ``series``/``output``: the first of ``all_series``/``outputs``."""

    path: str
    status: str
    reason: str = ""
    series: str | None = None
    output: str | None = None
    all_series: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class SeriesOutcome:
    """What happened to one series (or, for ``dicom``, one file), picklable for workers."""

    name: str
    uid: str
    files: list[str]
    status: str = CONVERTED
    reason: str = ""
    outputs: list[str] = field(default_factory=list)
    file_failures: dict[str, str] = field(default_factory=dict)
    file_outputs: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    #: the series failed as a whole on purpose (incomplete, output exists): converting its
    #: files one by one would be wrong
    final: bool = False


@dataclass
class ConvertReport:
    """Per-file and per-series results; ``exit_code`` is 1 when anything failed."""

    files: list[FileEntry]
    series: list[dict[str, Any]]
    format: str = ""
    source: str = ""
    destination: str = ""
    #: requests and bytes a remote source cost (None for local sources)
    transfer: dict[str, int] | None = None

    @property
    def counts(self) -> dict[str, int]:
        out = {CONVERTED: 0, KEPT: 0, SKIPPED: 0, FAILED: 0}
        for f in self.files:
            out[f.status] += 1
        return out

    @property
    def existing(self) -> list[str]:
        """Series (or files, for ``dicom``) not rewritten because their output exists."""
        if self.format == "dicom":
            return [f.path for f in self.files if f.reason.startswith(OUTPUT_EXISTS)]
        return [str(r["name"]) for r in self.series
                if str(r.get("reason", "")).startswith(OUTPUT_EXISTS)]

    @property
    def exit_code(self) -> int:
        return 1 if any(f.status == FAILED for f in self.files) else 0

    def to_dict(self) -> dict[str, Any]:
        out = {"source": self.source, "destination": self.destination, "format": self.format,
               "counts": self.counts, "exit_code": self.exit_code,
               "files": [dataclasses.asdict(f) for f in self.files], "series": self.series}
        if self.transfer is not None:
            out["transfer"] = self.transfer
        return out


@functools.lru_cache(maxsize=1 << 16)
def _key(path: str) -> str:
    """The report's key of a file: its absolute, normalised path (asked for several times
    per file by one convert; cached)."""
    return os.path.normpath(os.path.abspath(path))  # cleared by each convert: cwd may move


def _error_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {reason}"


# --------------------------------------------------------------------------- tasks


def _convert_series(series: Any, base: str, fmt: str, opts: JobSettings) -> SeriesOutcome:
    """:func:`_convert_local_series`, for a series whose files may be URLs: the worker
    that runs it fetches them itself (no shared filesystem: a Dask worker on another
    machine), into a private folder removed afterwards; the outcome names the URLs.

    The memory of the series' arrays is handed back when it is written, not kept for the
    next load (:mod:`dicomdecode.engine.reuse`): the study's memory bound
    (:func:`_held_bytes`) counts what a task holds while it runs, nothing after."""
    from dicomdecode.engine import reuse

    try:
        return _convert_fetched_series(series, base, fmt, opts)
    finally:
        reuse.release()


def _convert_fetched_series(series: Any, base: str, fmt: str, opts: JobSettings
                            ) -> SeriesOutcome:
    """:func:`_convert_series`'s work: fetch the files of a remote series, then convert."""
    from dicomdecode.read.sources.base import is_url

    if not any(is_url(p) for p in series.files):
        return _convert_local_series(series, base, fmt, opts)
    from dicomdecode.read.inputs import stage

    urls = series.files
    staged, staging = stage(urls, opts.storage_options)
    assert staging is not None
    try:
        local = {staging.display(p): p for p in staged}
        missing = [u for u in urls if u not in local]
        if missing:
            reasons = dict(staging.failed)
            return SeriesOutcome(name=Path(base).name, uid=series.uid, files=list(urls),
                                 status=FAILED, reason="fetch failed",
                                 file_failures={u: f"fetch failed: {reasons.get(u, '?')}"
                                                for u in missing})
        here = dataclasses.replace(
            series, images=[dataclasses.replace(im, path=local[im.path]) for im in series.images],
            issue_paths=[local.get(p, p) for p in series.issue_paths])
        out = _convert_local_series(here, base, fmt, opts)
        out.files = [staging.display(p) for p in out.files]
        out.reason = staging.named(out.reason)
        out.file_failures = {staging.display(p): staging.named(r)
                             for p, r in out.file_failures.items()}
        out.file_outputs = {staging.display(p): o for p, o in out.file_outputs.items()}
        out.info = _renamed(out.info, staging.named)
        for output in out.outputs:
            if output.endswith(".json") and os.path.isfile(output):
                _rename_json(output, staging)
        slices = Path(base).with_name(Path(base).name + SLICES_SUFFIX)
        if slices.is_file():
            _rename_json(str(slices), staging)
        return out
    finally:
        staging.cleanup()


def _convert_local_series(series: Any, base: str, fmt: str, opts: JobSettings
                          ) -> SeriesOutcome:
    """Load one series and write it; files that could not be used are reported failed.

    When a multi-file series cannot be one volume at all (lenient mode), each file is
    converted on its own (``<name>_<hash>``) so one odd file does not sink the others.
    """
    out = _convert_one(series, base, fmt, opts)
    if out.status != FAILED or opts.options.strict or len(series.files) < 2 or out.final:
        return out
    whole_reason = out.reason
    salvage = SeriesOutcome(name=out.name, uid=series.uid, files=list(series.files))
    kept = 0
    for path in series.files:
        sub = dataclasses.replace(series, images=[im for im in series.images if im.path == path],
                                  n_volumes=1, warnings=[], issue_paths=[])
        one = _convert_one(sub, f"{base}_{short_hash(_key(path))}", fmt, opts)
        if one.status == FAILED or path in one.file_failures:
            salvage.file_failures[path] = one.file_failures.get(path) or one.reason
        else:
            salvage.file_outputs[path] = one.outputs[0]
            salvage.outputs.extend(one.outputs)
            kept += one.status == KEPT
    salvage.reason = (f"series is not one volume ({whole_reason}); converted file by file")
    if not salvage.outputs:
        salvage.status = FAILED
    elif kept == len(series.files):
        salvage.status = KEPT  # --resume: every file's own output was current
    return salvage


def _convert_one(series: Any, base: str, fmt: str, opts: JobSettings) -> SeriesOutcome:
    """Load ``series`` as one Volume and write it to ``base`` + format suffixes.

    NIfTI (compact, the default) takes the stored-values road where it applies
    (:func:`~dicomdecode.writers.compact.plan_stored_values`): the series is decoded as
    its stored values (int16, not the int32 of HU) and written with the rescale as
    scl_slope/scl_inter, as dcm2niix does, with no wide array and no pass to narrow it."""
    from dicomdecode.assemble import assemble_series
    from dicomdecode.writers import write_volume
    from dicomdecode.writers.compact import settle

    name = Path(base).name
    out = SeriesOutcome(name=name, uid=series.uid, files=list(series.files))
    targets = opts.targets(base, fmt)
    if _keep_existing(out, targets, opts):
        return out
    plan = _stored_plan(series, fmt, opts)
    decode_options = (dataclasses.replace(opts.options, rescale=False) if plan is not None
                      else opts.options)
    if plan is not None and OVERLAP:
        from dicomdecode.apps.overlapped import write_overlapped

        try:
            done = write_overlapped(
                series, Path(base), decode_options, opts.write, plan,
                lambda: record_sources(opts.dst, targets[0], series.files, partial=False))
        except Exception as exc:
            out.status, out.reason = FAILED, f"writing failed: {_error_reason(exc)}"
            return out
        if done is not None:
            streamed, written = done
            out.outputs = [str(p) for p in written]
            out.info = _info(streamed, plan.array_dtype)
            return out
    current = series
    volume = None
    for _ in range(_MAX_RETRIES):
        try:
            volume = assemble_series(current, decode_options)
            break
        except DicomDecodeError as exc:
            bad = exc.path if exc.path in current.files else None
            if bad is None or opts.options.strict or len(current.files) < 2:
                out.status, out.reason = FAILED, _error_reason(exc)
                if isinstance(exc, InconsistentSeriesError) and exc.paths:
                    out.info["paths"] = exc.paths
                return out
            # one file is bad: report it and assemble the series from the others
            out.file_failures[bad] = _error_reason(exc)
            current = dataclasses.replace(
                current, images=[im for im in current.images if im.path != bad])
        except Exception as exc:  # a bug or an unexpected library error: still report it
            out.status, out.reason = FAILED, _error_reason(exc)
            return out
    if volume is None:
        out.status, out.reason = FAILED, "too many bad files in this series"
        return out
    if plan is not None:
        volume, plan = settle(volume, plan)
    used = {s.path for s in volume.slices}
    decode_failures = {p: _without_path(p, r)
                       for p, r in (volume.meta.get("FailedFiles") or {}).items()}
    out.file_failures.update(decode_failures)
    if used:
        for path in current.files:
            if path not in used and path not in out.file_failures:
                out.file_failures[path] = "not used in the volume"
    # a failed copy of an instance the volume holds (same SOP Instance UID) loses no slice
    held = {im.sop_instance_uid for im in series.images if im.path in used}
    undecoded = {p: r for p, r in out.file_failures.items() if r != "not used in the volume"
                 and not any(im.path == p and im.sop_instance_uid in held
                             for im in series.images)}
    if undecoded:
        out.reason = _incomplete_reason(undecoded, len(series.files))
        if not opts.allow_partial:
            out.status, out.final = FAILED, True
            out.reason += " (--allow-partial writes the rest, marked partial)"
            return out
        out.status = PARTIAL
        out.reason += "; written without them (--allow-partial)"
    try:
        record_sources(opts.dst, targets[0], series.files, partial=out.status == PARTIAL)
        if plan is not None:
            from dicomdecode.writers.nifti import write_nifti

            written = write_nifti(volume, Path(base), opts.write, stored=plan)
        else:
            written = write_volume(volume, base, fmt, opts.write)
        out.outputs = [str(p) for p in written]
        out.outputs += _write_resampled(volume, base, fmt, opts) if plan is None else []
    except Exception as exc:
        out.status, out.reason = FAILED, f"writing failed: {_error_reason(exc)}"
        return out
    out.info = _info(volume, volume.array.dtype if plan is None else plan.array_dtype)
    return out


def _info(volume: Any, dtype: Any) -> dict[str, Any]:
    """The report's facts about a written volume."""
    return {"shape": list(volume.array.shape), "dtype": str(dtype),
            "spacing": [round(v, 6) for v in volume.spacing],
            "warnings": list(volume.warnings)}


def _keep_existing(out: SeriesOutcome, targets: list[Path], opts: JobSettings) -> bool:
    """Decide for outputs that exist before writing: True when `out` is settled (kept, or
    failed because the output exists); False to go on and (re)write."""
    existing = [p for p in targets if p.exists()]
    if not existing or opts.force or opts.ours(existing):
        return False  # nothing there, asked to overwrite, or written by this very run
    if opts.resume:
        why = (sources_unchanged(opts.dst, targets[0], out.files)
               if len(existing) == len(targets) else "some of its files are missing")
        if why is None:
            out.status, out.outputs, out.reason = KEPT, [str(p) for p in targets], RESUMED
            return True
        out.reason = f"rewritten: {why}"
        return False
    out.status, out.final = FAILED, True
    out.reason = f"{OUTPUT_EXISTS}: {existing[0]} ({EXISTS_HINT})"
    out.outputs = [str(existing[0])]
    return True


def _without_path(path: str, reason: str) -> str:
    """`reason` without a leading "`path`: " (errors name their file; the report and the
    console already name it once)."""
    prefix = f"{path}: "
    return reason[len(prefix):] if reason.startswith(prefix) else reason


def _incomplete_reason(failures: dict[str, str], total: int) -> str:
    """"N of M slices could not be decoded: why (which files)", one entry per distinct
    reason, so a missing decoder's pip install hint is printed once."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in sorted(failures.items()):
        by_reason.setdefault(reason, []).append(os.path.basename(path))
    parts = []
    for reason, names in by_reason.items():
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        parts.append(f"{reason} ({shown})")
    return f"{len(failures)} of {total} slices could not be decoded: " + "; ".join(parts)


def _write_resampled(volume: Any, base: str, fmt: str, opts: JobSettings) -> list[str]:
    """The tilt-corrected / evenly spaced copy (dcm2niix's _Tilt/_Eq) the options ask for."""
    options = opts.options
    if not (options.tilt_correct or options.equalize_spacing):
        return []
    from dicomdecode.assemble.resample import resampled_copy
    from dicomdecode.writers import write_volume

    extra = resampled_copy(volume, options.tilt_correct, options.equalize_spacing)
    if extra is None:
        return []
    suffix, copy = extra
    return [str(p) for p in write_volume(copy, base + suffix, fmt, opts.write)]


def _patient_identifiers(path: str) -> list[str]:
    """Patient ID and the parts of Patient Name of one file (header only)."""
    from dicomdecode.read.dataset import dcmread

    try:
        ds = dcmread(path, stop_before_pixels=True, force=True,
                     specific_tags=["PatientName", "PatientID"])
    except Exception:
        return []
    name = str(ds.get("PatientName", "") or "")
    return [str(ds.get("PatientID", "") or ""), name, *name.replace("=", "^").split("^")]


def _patient_label(path: str) -> str | None:
    """Patient ID, else Patient Name, of one file (for ``include_patient`` names)."""
    ids = [i for i in _patient_identifiers(path)[:2] if i]
    return ids[0] if ids else None


def _convert_file(path: str, target: str, opts: JobSettings) -> SeriesOutcome:
    """Rewrite one file as uncompressed DICOM."""
    from dicomdecode.writers.dicom import write_decompressed

    if not opts.include_patient:
        scrubbed = scrub_identifiers(Path(target), opts.dst, _patient_identifiers(path))
        if str(scrubbed) != target:  # keep names unique: two patients may scrub alike
            scrubbed = scrubbed.with_name(
                f"{scrubbed.stem}_{short_hash(_key(path))}{scrubbed.suffix}")
        target = str(scrubbed)
    out = SeriesOutcome(name=Path(target).name, uid=path, files=[path])
    t = Path(target)
    if not _keep_existing(out, [t], opts):
        try:
            record_sources(opts.dst, t, [path])
            out.outputs = [str(write_decompressed(path, t, options=opts.options))]
        except Exception as exc:
            out.status, out.reason = FAILED, _error_reason(exc)
    if out.outputs:
        out.file_outputs[path] = out.outputs[0]
    return out


# --------------------------------------------------------------------------- planning


def _dicom_targets(paths: Iterable[str], src: str, dst: str) -> dict[str, str]:
    """Mirror each input under ``dst`` with safe names; disambiguate collisions by hash."""
    src_root = src if os.path.isdir(src) else os.path.dirname(os.path.abspath(src))
    targets: dict[str, str] = {}
    used: set[str] = set()
    for path in sorted(paths):
        target = mirrored_path(path, src_root, dst)
        if str(target).lower() in used:
            target = target.with_name(f"{target.stem}_{short_hash(_key(path))}{target.suffix}")
        used.add(str(target).lower())
        targets[path] = str(target)
    return targets


#: below this many files the scan reads headers in this process: a 300-file series was
#: read in 0.36 s serially and 0.57 s by a two-process pool (fork, pickled records back)
_SERIAL_SCAN_FILES = 600


def _in_process(tasks: list[tuple[Callable[..., SeriesOutcome], tuple[Any, ...], int]],
                engine: Any) -> tuple[Callable[..., SeriesOutcome], tuple[Any, ...]] | None:
    """The only task, to run in this process with its codecs limited to safe handlers;
    None when it should run in a worker process as before.

    A worker process isolates a codec that may abort (or hang) from the job, and runs
    series side by side; for a single local series it buys nothing but a fork, the
    pickled outcome and a second copy of the imports. So when, for every transfer syntax
    of the series, some installed handler releases the GIL and cannot abort (native;
    RLE/JPEG/JPEG-LS/J2K/HTJ2K through imagecodecs: ``Handler.releases_gil`` /
    ``may_abort``), the series decodes on threads here with only those handlers; if any
    file then fails, the caller runs the task again in the isolating pool with every
    handler (:func:`_solo_or_pool`), so a file only GDCM decodes is still converted and a
    GDCM abort still costs one file."""
    if engine is not parallel or len(tasks) != 1 or tasks[0][0] is not _convert_series:
        return None
    from dicomdecode.decode.dispatch import HANDLERS, check_decodable
    from dicomdecode.read import transfer_syntax as ts
    from dicomdecode.read.pixel_source import pixel_source_of_image
    from dicomdecode.read.sources.base import is_url

    series, base, fmt, opts = tasks[0][1]
    seen: set[str] = set()
    safe: list[str] = []
    for image in series.images:
        if is_url(image.path):
            return None
        source = pixel_source_of_image(image)
        if source.transfer_syntax in seen:
            continue
        seen.add(source.transfer_syntax)
        row = ts.lookup(source.transfer_syntax)
        if row is None:
            return None  # reported by the decode itself, in a worker as before
        # only the thread-safe handlers are asked whether they are installed: asking the
        # others imports their libraries (GDCM: 0.07 s) for a list that drops them
        names = opts.options.handlers
        if names is None or list(row.handlers) == ["native"]:  # as dispatch.candidates
            names = tuple(row.handlers)
        thread_safe = tuple(name for name in names if name in HANDLERS
                            and HANDLERS[name].releases_gil and not HANDLERS[name].may_abort)
        if not thread_safe:
            return None
        try:
            found = check_decodable(source, thread_safe)
        except (DicomDecodeError, ValueError):
            return None  # reported by the decode itself, in a worker as before
        usable = [h.name for h in found]
        if not usable:
            return None
        safe += [name for name in usable if name not in safe]
    options = dataclasses.replace(opts.options, handlers=safe)
    return _convert_series, (series, base, fmt, dataclasses.replace(opts, options=options))


def _needs_pool(outcome: Any) -> bool:
    """Whether an in-process outcome must be redone in the pool with every handler: a
    file failed (perhaps only a handler left out decodes it), or the series did, for a
    reason other than its output existing."""
    if isinstance(outcome, BaseException):
        return True
    if any(r != "not used in the volume" for r in outcome.file_failures.values()):
        return True
    return outcome.status == FAILED and not outcome.reason.startswith(OUTPUT_EXISTS)


def _solo_or_pool(solo: tuple[Callable[..., SeriesOutcome], tuple[Any, ...]],
                  tasks: list[tuple[Callable[..., SeriesOutcome], tuple[Any, ...], int]],
                  workers: int, tick: Callable[[int], None]) -> Iterator[SeriesOutcome]:
    """Run the single series task in this process (:func:`_in_process`); when that does
    not convert it cleanly, run the original task in the pool as :func:`_run` would."""
    fn, args = solo
    try:
        outcome: Any = fn(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except Exception as exc:
        outcome = exc
    if not _needs_pool(outcome):
        tick(tasks[0][2])
        yield outcome
        return
    yield from _run(tasks, workers, tick)


def _run(tasks: list[tuple[Callable[..., SeriesOutcome], tuple[Any, ...], int]],
         workers: int, tick: Callable[[int], None], engine: Any = parallel
         ) -> Iterator[SeriesOutcome]:
    """Run tasks on the engine (the local process pool, or a Dask cluster's
    ``ClusterEngine``), yielding outcomes as they finish; a task whose worker died is
    reported failed, never lost."""
    runnable = [(fn, args) for fn, args, _ in tasks]
    shared = parallel.fork_is_safe()
    held = [_held_bytes(fn, args) for fn, args in runnable]
    budget = max(int(HELD_FACTOR * max(held, default=0)), HELD_FLOOR)
    if engine is parallel:  # a series too big to run beside its like mostly runs alone:
        # it decodes on every CPU's thread instead of one (a cluster's workers decide)
        runnable = [_with_threads(task, workers) if 2 * size > budget else task
                    for task, size in zip(runnable, held, strict=True)]
    weights = {id(task): weight for task, (*_, weight) in zip(runnable, tasks, strict=True)}
    for task, result in engine.run_unordered(runnable, workers, share_memory=shared,
                                             timeout=_series_timeout(runnable),
                                             isolate=True, held=held, budget=budget):
        args, weight = task[1], weights[id(task)]
        if isinstance(result, parallel.WorkerDied) and task[0] is _convert_series:
            result = _after_worker_death(args, workers, shared, result, engine)
        if isinstance(result, BaseException):
            first = args[0]
            files = list(getattr(first, "files", [first]))
            result = SeriesOutcome(name=str(args[1]), uid=str(getattr(first, "uid", first)),
                                   files=files, status=FAILED,
                                   reason=f"worker failed: {_error_reason(result)}")
        tick(weight)
        yield result


#: the series arrays held at once by a study's workers: at most this times the largest
#: (issue 18: "peak memory at most 1.3x the largest output array"), ...
HELD_FACTOR = 1.3
#: ... or this much, so that a study of many small series still uses every worker
HELD_FLOOR = 256 << 20


def _held_bytes(fn: Callable[..., SeriesOutcome], args: tuple[Any, ...]) -> int:
    """What a task holds in its worker at its peak, roughly: nothing worth counting for a
    series that streams (chunks of a few MB, :mod:`dicomdecode.apps.overlapped`), else its
    decoded array (4 bytes a sample: the widest of the usual output dtypes; the ratio
    between series is what the budget uses)."""
    if fn is not _convert_series:
        return 0
    series, _base, fmt, opts = args
    if OVERLAP:
        from dicomdecode.apps.overlapped import eligible

        try:  # what _convert_one decides: the stored-values plan, then the streamed road
            if eligible(series) and _stored_plan(series, fmt, opts) is not None:
                return 0
        except Exception:  # noqa: BLE001 - the task itself reports it; count it whole
            pass
    return sum(max(im.rows, 0) * max(im.columns, 0) * max(im.samples_per_pixel, 1)
               * max(im.mosaic_slices, 1) for im in series.images) * 4


def _stored_plan(series: Any, fmt: str, opts: JobSettings) -> Any:
    """The stored-values plan of ``series`` (:func:`~dicomdecode.writers.compact.
    plan_stored_values`) when ``fmt`` is NIfTI in its compact form, else None."""
    from dicomdecode.writers.compact import plan_stored_values

    if fmt != "nifti" or not opts.write.compact_for("nifti"):
        return None
    return plan_stored_values(series, opts.options)


def _with_threads(task: tuple[Callable[..., SeriesOutcome], tuple[Any, ...]], threads: int
                  ) -> tuple[Callable[..., SeriesOutcome], tuple[Any, ...]]:
    """`task` with its series decoding on `threads` threads (codecs that release the GIL;
    the others stay serial in the worker)."""
    fn, args = task
    if fn is not _convert_series or threads < 2:
        return task
    series, base, fmt, opts = args
    if opts.options.workers is not None and opts.options.workers >= threads:
        return task
    opts = dataclasses.replace(opts, options=dataclasses.replace(opts.options, workers=threads))
    return fn, (series, base, fmt, opts)


def _series_timeout(tasks: list[tuple[Callable[..., SeriesOutcome], tuple[Any, ...]]]
                    ) -> float:
    """Seconds without any task finishing before the pool counts as hung: the per-file
    timeout times the largest task's file count."""
    sizes = [len(getattr(args[0], "files", [args[0]])) for _, args in tasks] or [1]
    return float(max(sizes)) * tasks[0][1][-1].options.file_timeout if tasks else 0.0


def _probe_file(path: str, options: Options) -> None:
    """Decode one file and throw the pixels away: run in a worker to see if it kills it."""
    from dicomdecode.decode import decode

    try:
        decode(path, options=options)
    except DicomDecodeError:
        pass  # an ordinary failure: the series task reports it


def _after_worker_death(args: tuple[Any, ...], workers: int, shared: bool,
                        death: BaseException, engine: Any = parallel
                        ) -> SeriesOutcome | BaseException:
    """A series task killed its worker twice (run with others, then alone): find the
    files that kill a worker on their own, and convert the series without them."""
    series, base, fmt, opts = args
    probes = [(_probe_file, (path, opts.options)) for path in series.files]
    killers = {task[1][0]: f"{result}" for task, result in engine.run_unordered(
        probes, max(workers, 2), share_memory=shared, timeout=opts.options.file_timeout,
        isolate=True) if isinstance(result, parallel.WorkerDied)}
    if not killers or len(killers) == len(series.files):
        return death
    rest = dataclasses.replace(series, images=[im for im in series.images
                                               if im.path not in killers])
    ((_, outcome),) = list(engine.run_unordered(
        [(_convert_series, (rest, base, fmt, opts))], 2, share_memory=shared,
        timeout=opts.options.file_timeout * len(rest.files), isolate=True))
    if isinstance(outcome, BaseException):
        return outcome
    outcome.files = list(series.files)
    outcome.file_failures.update(killers)
    return outcome


class _NoBar:
    """The progress bar when none is shown (tqdm is not even imported: 0.05 s)."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _progress(total: int, show: bool) -> Any:
    if not show:
        return _NoBar()
    import shutil

    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[type-arg]
        # no monitor thread: a second thread makes fork unsafe, and the worker pools
        # would fall back to the slower forkserver for the rest of the process
        monitor_interval = 0

    # a terminal that reports a 0x0 size (some ptys) would hide the bar: assume 80x24
    size = shutil.get_terminal_size()
    return Bar(total=total, unit="file", disable=not show, file=sys.stderr,
                desc="converting", ncols=size.columns or 80, nrows=size.lines or 24,
                mininterval=0.2)


def convert(src: str | os.PathLike[str], dst: str | os.PathLike[str], *, fmt: str = "nifti",
            workers: int | None = None, handlers: HandlerChoice = None, strict: bool = False,
            rescale: RescaleMode = "auto", force: bool = False, resume: bool = False,
            report_path: str | os.PathLike[str] | None = None, progress: bool | None = None,
            include_patient: bool = False, allow_partial: bool = False,
            options: Options | None = None, scheduler: str | None = None, client: Any = None,
            storage_options: dict[str, Any] | None = None,
            compress: bool = True, compress_level: int | None = None,
            compact: bool | None = None, write_options: WriteOptions | None = None,
            **option_kwargs: Any) -> ConvertReport:
    """Convert every series under ``src`` into ``dst`` as ``fmt``; return the report.

    Args:
        src: a DICOM file or a folder (searched recursively).
        dst: the output folder (created); must not lie inside ``src``.
        fmt: ``nifti``, ``npy``, ``npz``, ``zarr`` (one output per series) or ``dicom``
            (each file rewritten uncompressed).
        workers: how many CPUs to use; default ``DICOMDECODE_WORKERS`` or every CPU this
            process may use. Several series (or files, for ``dicom``) are spread over
            that many processes; a single local series is decoded on that many threads
            of this process (codecs that may abort still go to processes).
        handlers, strict, rescale, options, and any other :class:`dicomdecode.Options`
            field as a keyword (``philips_scaling``, ``invert_monochrome1``,
            ``mask_padding``, ``convert_color``, ``max_bytes``): how series are decoded
            and assembled, checked before any file is read. ``tilt_correct`` /
            ``equalize_spacing`` also write a resampled copy (``NAME_Tilt``, ``NAME_Eq``)
            of series with a gantry tilt / uneven slice gaps, as dcm2niix does.
        force / resume: overwrite existing outputs / keep those whose source files did not
            change since (size and modification time, recorded next to the outputs in
            ``dst/.dicomdecode/``; status ``kept``) and rewrite the others. Without either,
            a series whose output exists is not touched and fails (``output exists``).
        allow_partial: write a series some of whose slices could not be decoded (or have no
            installed decoder) without them, with series status ``partial``; by default
            such a series fails as a whole: "N of M slices could not be decoded: ...".
        report_path: write the JSON report there.
        progress: show a progress bar (default: when stderr is a terminal).
        include_patient: put Patient ID (or Name) in output names (off by default).
        scheduler: run on a Dask cluster: ``"local:N"`` starts N worker processes here,
            ``"tcp://host:8786"`` uses a running scheduler (needs ``dicomdecode[dask]``).
        client: a ``distributed.Client`` to run on instead. Workers must see ``src`` and
            ``dst`` at the same paths (a shared filesystem).
        storage_options: for a URL `src` (``s3://bucket/prefix/``, any fsspec URL): the
            filesystem's options (credentials, endpoint); default the library's chain
            (environment variables such as ``AWS_ENDPOINT_URL``, config files). The
            report names objects by their redacted URL and adds ``transfer`` (requests
            and bytes); an object that cannot be fetched is ``failed`` with the reason.
        compress: NIfTI as ``.nii.gz`` (default) or, when False, ``.nii`` (dcm2niix's
            ``-z y`` / ``-z n``).
        compress_level: gzip level of ``.nii.gz``, ISA-L's 0 (fastest) .. 3 (smallest);
            default 2. Compression runs on several threads and writes a standard gzip
            stream.
        compact: store the smallest exact dtype (int16 for a CT in HU; stored values with
            ``scl_slope``/``scl_inter`` for a fractional slope); default on for NIfTI (as
            dcm2niix), off for npy/npz/zarr (their arrays equal ``load()``'s). What was
            done is in the sidecar / metadata under ``storage``.
        write_options: a :class:`~dicomdecode.writers.settings.WriteOptions`; the three
            keywords above override it.

    Returns:
        A :class:`ConvertReport`: every input file once (converted, kept, skipped or
        failed).

    Raises:
        FileNotFoundError: `src` does not exist. ValueError / TypeError: a bad option.

    Example:
        >>> report = convert("test_data/series", "out", fmt="npy")  # doctest: +SKIP
        >>> report.counts                                          # doctest: +SKIP
    """
    decode_options = Options.resolve(options, handlers=handlers, strict=strict,
                                     rescale=rescale, workers=workers, **option_kwargs)
    base_write = write_options or WriteOptions()
    write = dataclasses.replace(
        base_write, compress=compress and base_write.compress,
        compress_level=base_write.compress_level if compress_level is None else compress_level,
        compact=base_write.compact if compact is None else compact)
    from dicomdecode.scan import iter_files, scan

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    src_s, dst_s = os.fspath(src), os.fspath(dst)
    from dicomdecode.read.sources.base import is_url

    remote = is_url(src_s)
    if remote and scheduler is None and client is None:
        return _convert_url(src_s, dst_s, storage_options, fmt=fmt, force=force,
                            resume=resume, report_path=report_path, progress=progress,
                            include_patient=include_patient, allow_partial=allow_partial,
                            options=decode_options)
    if remote and fmt not in VOLUME_FORMATS:
        raise ValueError(f"--format {fmt} of a URL on a cluster is not supported; "
                         f"use {', '.join(VOLUME_FORMATS)}")
    if not remote and not os.path.exists(src_s):
        raise FileNotFoundError(f"{src_s}: no such file or folder")
    if not remote and os.path.isdir(src_s) and is_within(dst_s, src_s):
        raise ValueError(f"{dst_s}: the destination must not be inside the source folder")
    if os.path.exists(dst_s) and not os.path.isdir(dst_s):
        raise NotADirectoryError(f"{dst_s} is a file; the destination must be a folder "
                                 "(it is created when missing)")
    if scheduler is not None and client is None:
        from dicomdecode.engine import cluster

        with cluster.connect(scheduler) as started:
            return convert(src_s, dst_s, fmt=fmt, force=force, resume=resume,
                           report_path=report_path, progress=progress,
                           include_patient=include_patient, allow_partial=allow_partial,
                           options=decode_options, client=started,
                           storage_options=storage_options, write_options=write)
    os.makedirs(dst_s, exist_ok=True)
    clean_temporaries(dst_s)
    # CPUs this process may use (affinity, cgroup quota), not the machine's count
    pool_size = parallel.resolve_workers(decode_options.workers, 1 << 30)
    # one level of parallelism: series across processes, or inside each series when serial
    series_options = dataclasses.replace(
        decode_options, workers=None if pool_size == 1 and client is None else 1)
    opts = JobSettings(options=series_options, fmt=fmt, dst=dst_s, force=force,
                       resume=resume, include_patient=include_patient,
                       allow_partial=allow_partial, started_ns=time.time_ns(),
                       storage_options=storage_options if remote else None, write=write)

    _key.cache_clear()
    if remote:  # on a cluster: headers read here, each series' files by its worker
        all_files, result = _remote_scan(src_s, storage_options)
    else:
        all_files = list(iter_files(src_s))
        small = client is None and len(all_files) < _SERIAL_SCAN_FILES
        result = scan(src_s, client=client, workers=1 if small else None)
    entries: dict[str, FileEntry] = {_key(p): FileEntry(path=p, status=SKIPPED,
                                                        reason="not reported by scan")
                                     for p in all_files}

    def entry(path: str) -> FileEntry:
        k = _key(path)
        if k not in entries:  # scan saw a file our walk did not (should not happen)
            entries[k] = FileEntry(path=path, status=SKIPPED)
        return entries[k]

    duplicates: list[str] = []
    for s in result.skipped:
        e = entry(s.path)
        e.status, e.reason = (SKIPPED if s.benign else FAILED), s.reason
        if s.kind == "truncated":
            e.reason = (f"an image object without pixel data: truncated or incomplete file "
                        f"({s.reason})")
        if s.kind == "duplicate":
            duplicates.append(s.path)

    tasks: list[tuple[Callable[..., SeriesOutcome], tuple[Any, ...], int]] = []
    names: dict[str, str] = {}
    for series in result.series:
        patient = _patient_label(series.files[0]) if include_patient and not remote else None
        name = series_name(series, include_patient=include_patient, patient=patient)
        names[series.uid] = name
        for path in series.files:
            e = entry(path)
            if name not in e.all_series:
                e.all_series.append(name)
            e.status, e.reason = CONVERTED, ""
    settled: list[SeriesOutcome] = []  # series not run: their output exists (one line)
    if fmt in VOLUME_FORMATS:
        for series in result.series:
            base = os.path.join(dst_s, names[series.uid])
            here = SeriesOutcome(name=names[series.uid], uid=series.uid,
                                 files=list(series.files))
            if not (force or resume) and _keep_existing(here, opts.targets(base, fmt), opts):
                settled.append(here)
                continue
            tasks.append((_convert_series, (series, base, fmt, opts), len(series.files)))
    else:
        image_files = sorted({p for s in result.series for p in s.files} | set(duplicates))
        for path, target in _dicom_targets(image_files, src_s, dst_s).items():
            tasks.append((_convert_file, (path, target, opts), 1))

    tasks = _spread_threads(tasks, pool_size, client is None and fmt in VOLUME_FORMATS)
    show = progress if progress is not None else sys.stderr.isatty()
    engine = _engine(client, progress is not False)
    solo = _in_process(tasks, engine)
    skipped_count = len(entries) - sum(w for *_, w in tasks)
    series_rows: list[dict[str, Any]] = []
    series_by_uid = {s.uid: s for s in result.series}
    reached: set[str] = set()
    interrupted = False
    try:
        with _progress(len(entries), bool(show)) as bar:
            bar.update(max(skipped_count, 0))
            for outcome in settled:
                _apply(outcome, entries, fmt)
                reached.update(_key(p) for p in outcome.files)
                series_rows.append(_series_row(series_by_uid[outcome.uid], outcome))
            outcomes = (_run(tasks, pool_size, bar.update, engine) if solo is None
                        else _solo_or_pool(solo, tasks, pool_size, bar.update))
            for outcome in outcomes:
                _apply(outcome, entries, fmt)
                reached.update(_key(p) for p in outcome.files)
                if fmt in VOLUME_FORMATS:
                    series_rows.append(_series_row(series_by_uid[outcome.uid], outcome))
            if fmt in VOLUME_FORMATS and not remote:
                for series, outcome in _rescue_duplicates(result.skipped, entries, dst_s, fmt,
                                                          opts, include_patient):
                    series_by_uid[outcome.uid] = series
                    _apply(outcome, entries, fmt)
                    series_rows.append(_series_row(series, outcome))
    except KeyboardInterrupt:
        # the report is still written: every file not reached is marked, none is lost
        interrupted = True
        for _fn, args, _ in tasks:
            files = getattr(args[0], "files", [args[0]])
            for path in files:
                if _key(path) not in reached:
                    e = entry(path)
                    e.status, e.reason, e.outputs, e.output = (
                        FAILED, "not converted: the run was interrupted before this file", [],
                        None)
    if fmt == "dicom":
        series_rows = [_series_row(s, None, entries) for s in result.series]
    series_rows.sort(key=lambda r: r["name"])
    clean_temporaries(dst_s)  # what workers killed mid-write left (their work was redone)
    report = ConvertReport(files=sorted(entries.values(), key=lambda f: f.path),
                           series=series_rows, format=fmt, source=src_s, destination=dst_s)
    if remote:
        from dicomdecode.read.sources.redact import redact

        report.source = redact(src_s)
    if report_path is not None:
        write_json(report_path, report.to_dict())
    if interrupted:
        raise KeyboardInterrupt(f"interrupted; the report accounts for every file"
                                f"{f' ({report_path})' if report_path else ''}")
    return report


def _remote_scan(url: str, storage_options: dict[str, Any] | None
                 ) -> tuple[list[str], Any]:
    """Every object under `url` and the series of their headers (fetched here, by ranged
    reads, into a folder removed at once), the series' files named by their URLs: the
    cluster's workers fetch them themselves."""
    from dicomdecode.read.inputs import stage
    from dicomdecode.scan import scan
    from dicomdecode.series import Skip

    staged, staging = stage([url], storage_options)
    assert staging is not None
    try:
        result = scan(staged)
        for series in result.series:
            series.images = [dataclasses.replace(im, path=staging.display(im.path))
                             for im in series.images]
            series.issue_paths = [staging.display(p) for p in series.issue_paths]
            series.warnings = [staging.named(w) for w in series.warnings]
        result.skipped = [dataclasses.replace(
            s, path=staging.display(s.path), detail=staging.named(s.detail),
            duplicate_of=None if s.duplicate_of is None else staging.display(s.duplicate_of))
            for s in result.skipped]
        result.skipped += [Skip("unreadable", u, f"fetch failed: {r}") for u, r in staging.failed]
        files = sorted({*(staging.display(p) for p in staged), *(u for u, _ in staging.failed)})
        return files, result
    finally:
        staging.cleanup()


def _convert_url(url: str, dst: str, storage_options: dict[str, Any] | None,
                 report_path: str | os.PathLike[str] | None, **kwargs: Any) -> ConvertReport:
    """convert() of a remote prefix: its objects mirrored (headers, then every image's
    pixels, many requests in flight) into a private folder that is converted as a local
    one; the report then names the objects by their redacted URLs."""
    from dicomdecode.read.inputs import stage
    from dicomdecode.read.sources.mirror import ensure_complete
    from dicomdecode.scan import scan

    staged, staging = stage([url], storage_options)
    assert staging is not None
    try:
        ensure_complete(p for s in scan(staged).series for p in s.files)
        report = convert(staging.folder, dst, report_path=None, **kwargs)
        fetch_failed = dict(staging.failed)
        for entry in report.files:
            entry.path = staging.display(entry.path)
            entry.reason = staging.named(entry.reason)
            if entry.status == FAILED and entry.path in fetch_failed:  # say why it is short
                entry.reason = f"fetch failed: {fetch_failed[entry.path]}"
        report.files.extend(FileEntry(path=u, status=FAILED, reason=f"fetch failed: {r}")
                            for u, r in staging.failed if not any(f.path == u
                                                                  for f in report.files))
        report.files.sort(key=lambda f: f.path)
        report.series = [_renamed(row, staging.named) for row in report.series]
        for root, _dirs, names in os.walk(dst):  # provenance next to the outputs: URLs too
            for name in names:
                if name.endswith(".json"):
                    _rename_json(os.path.join(root, name), staging)
        report.source = staging.display(url)
        report.transfer = staging.transfer
    finally:
        staging.cleanup()
    if report_path is not None:
        write_json(report_path, report.to_dict())
    return report


def _rename_json(path: str, staging: Any) -> None:
    """Rewrite a JSON output whose strings hold staged paths (per-slice provenance)."""
    import json

    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    if not any(staged in text for staged in staging.names):
        return
    data = json.loads(text)
    renamed = _renamed(data, staging.named)
    if renamed != data:
        write_json(path, renamed)


def _renamed(value: Any, named: Callable[[str], str]) -> Any:
    """`value` (a report row) with every staged path in its strings shown as its URL."""
    if isinstance(value, str):
        return named(value)
    if isinstance(value, dict):
        return {k: _renamed(v, named) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, named) for v in value]
    return value
def _spread_threads(tasks: list[tuple[Callable[..., SeriesOutcome], tuple[Any, ...], int]],
                    pool_size: int, local: bool
                    ) -> list[tuple[Callable[..., SeriesOutcome], tuple[Any, ...], int]]:
    """Give each series task decoding threads when there are fewer series than CPUs.

    Series run one per worker process, each decoding on one thread, which keeps every CPU
    busy when there are many series; a study of one series would leave the others idle
    (a 300-slice J2K CT: 6.6 s of codec time on one core). So with fewer series than
    workers, each task's options ask for ``pool_size // len(tasks)`` threads: codecs that
    release the GIL decode on them inside the worker; the others stay serial there (no
    process pool is nested in a worker, :func:`dicomdecode.engine.parallel.resolve_workers`).
    """
    if not local or not tasks or len(tasks) >= pool_size:
        return tasks
    threads = pool_size // len(tasks)
    if threads < 2:
        return tasks
    out = []
    for fn, args, weight in tasks:
        if fn is _convert_series:
            series, base, fmt, opts = args
            opts = dataclasses.replace(
                opts, options=dataclasses.replace(opts.options, workers=threads))
            args = (series, base, fmt, opts)
        out.append((fn, args, weight))
    return out


def _engine(client: Any, announce: bool) -> Any:
    """The local process pool, or the cluster behind `client` (its dashboard link printed
    when it has one and `announce`)."""
    if client is None:
        return parallel
    from dicomdecode.engine import cluster

    link = cluster.dashboard_link(client) if announce else None
    if link:
        print(f"dask dashboard: {link}", file=sys.stderr)
    return cluster.ClusterEngine(client)


def _rescue_duplicates(skipped: list[Any], entries: dict[str, FileEntry], dst: str, fmt: str,
                       opts: JobSettings, include_patient: bool
                       ) -> Iterator[tuple[Any, SeriesOutcome]]:
    """Convert the skipped copies of instances whose kept copy failed, each on its own.

    Scan skips only byte-identical copies of an instance (so a copy of a converted file
    needs no second decode); when the kept copy could not be read, a copy may still be
    readable, and then it should not stay unconverted.
    """
    from dicomdecode.scan import scan

    for sk in skipped:
        if sk.kind != "duplicate" or sk.duplicate_of is None:
            continue
        original = sk.duplicate_of
        kept = entries.get(_key(original))
        if kept is None or kept.status != FAILED:
            continue
        for series in scan(sk.path).series:
            name = series_name(series, include_patient=include_patient)
            base = os.path.join(dst, f"{name}_{short_hash(_key(sk.path))}")
            outcome = _convert_series(series, base, fmt, opts)
            outcome.reason = outcome.reason or f"converted in place of the failed copy {original}"
            entry = entries[_key(sk.path)]
            name_ = Path(base).name
            if name_ not in entry.all_series:
                entry.all_series.append(name_)
            entry.status, entry.reason = CONVERTED, ""
            yield series, outcome


def _apply(outcome: SeriesOutcome, entries: dict[str, FileEntry], fmt: str) -> None:
    """Fold one outcome into the per-file entries (a file failed anywhere stays failed)."""
    for path in outcome.files:
        e = entries.setdefault(_key(path), FileEntry(path=path, status=CONVERTED))
        if path in outcome.file_failures:
            e.status, e.reason = FAILED, outcome.file_failures[path]
        elif outcome.status == FAILED:
            e.status, e.reason = FAILED, outcome.reason
        elif e.status != FAILED:
            e.status = KEPT if outcome.status == KEPT else CONVERTED
            e.reason = outcome.reason  # informational: kept, rewritten, partial, file by file
        outs = [outcome.file_outputs[path]] if path in outcome.file_outputs \
            else outcome.outputs[:1]
        for o in outs:
            if o not in e.outputs:
                e.outputs.append(o)
        e.outputs.sort()  # one order whatever order the series finished in
        if e.status == FAILED:
            e.outputs = []
        e.output = e.outputs[0] if e.outputs else None
        e.series = e.all_series[0] if e.all_series else None


def _series_row(series: Any, outcome: SeriesOutcome | None,
                entries: dict[str, FileEntry] | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": outcome.name if outcome else series_name(series),
        "uid": series.uid, "series_instance_uid": series.series_uid,
        "series_number": series.series_number, "description": series.description,
        "modality": series.modality, "files": len(series.files),
    }
    if outcome is not None:
        row.update(status=outcome.status, reason=outcome.reason, outputs=outcome.outputs,
                   **outcome.info)
        if outcome.file_failures:
            row["failed_files"] = outcome.file_failures
    elif entries is not None:
        states = [entries[_key(p)].status for p in series.files]
        row["status"] = (FAILED if FAILED in states else
                         KEPT if states and all(st == KEPT for st in states) else CONVERTED)
        row["outputs"] = [o for p in series.files for o in entries[_key(p)].outputs]
    row["scan_warnings"] = list(series.warnings)
    return row


def summary(report: ConvertReport) -> str:
    """One human line: counts and where the outputs went."""
    c = report.counts
    kept = f"{c[KEPT]} kept, " if c[KEPT] else ""
    return (f"{c[CONVERTED]} converted, {kept}{c[SKIPPED]} skipped, {c[FAILED]} failed "
            f"({len(report.files)} files, {len(report.series)} series) -> {report.destination}")


__all__ = ["convert", "ConvertReport", "FileEntry", "summary", "CONVERTED", "KEPT", "PARTIAL",
           "SKIPPED", "FAILED", "OUTPUT_EXISTS"]
