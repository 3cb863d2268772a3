"""Differential check: every entry point gives the same pixels, or the same refusal.

One file goes through six roads: ``decode_file(path)``, ``decode(bytes)``, ``load`` of
that one file, every item of a ``SliceDataset``, ``convert --format npy`` and
``compat.combine_slices``. Each is asked for stored values (``rescale=False``). Two
roads agree when both refuse (a typed error, a skip or a failed file: the kind of
refusal may differ, a volume loader warns where ``decode_file`` raises), or both give
the same dtype and the same frames, compared as a multiset (``load`` orders frames by
position, ``decode_file`` by their order in the file) and, for a mosaic, after the
decoded image is untiled into the slices ``load`` gives.

A file whose frames make several volumes (a SEG's segments, a multi-phase file) can be
*partly* decodable: one volume's frame is corrupt, another volume's frames are not. The
file roads (``decode_file``, ``decode(bytes)``, the items of ``SliceDataset``) refuse
the file; the volume roads return the volumes that decode and say that the others
failed (``load`` warns "could not be loaded", ``convert`` writes them and reports the
file failed). Such an outcome is *partial*: it agrees with a refusal (every road says the
file is broken) as long as every partial road gives the same frames; a partial road
beside a road that gives the whole file, or two partial roads with different frames,
disagree.

The outcome is a class of the fuzz harness (``disagree``) and a test oracle: it
compares roads with each other, never a road with itself.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROADS = ("decode_file", "decode_bytes", "load", "slice_dataset", "convert_npy",
         "combine_slices")


@dataclass
class Outcome:
    """What one road made of the file: frames (as digests), or why it refused."""

    road: str
    refused: str = ""  # non-empty: the reason (typed error, skip or failed status)
    dtype: str = ""
    shape: tuple[int, ...] = ()  # of one frame
    frames: tuple[str, ...] = ()  # sorted digests of each frame's bytes
    untyped: str = ""  # an exception that is not a DicomDecodeError (a bug on its own)
    not_applicable: str = ""  # the road's contract excludes the file (see _run)
    partial: str = ""  # frames of the volumes that decoded; why the others did not

    def summary(self) -> str:
        if self.not_applicable:
            return f"{self.road}: n/a ({self.not_applicable[:100]})"
        if self.untyped:
            return f"{self.road}: UNTYPED {self.untyped}"
        if self.refused:
            return f"{self.road}: refused ({self.refused[:160]})"
        part = f", partial ({self.partial[:100]})" if self.partial else ""
        return f"{self.road}: {len(self.frames)} x {self.shape} {self.dtype}{part}"


def _digests(frames: np.ndarray) -> tuple[str, ...]:
    return tuple(sorted(hashlib.sha1(np.ascontiguousarray(f).tobytes()).hexdigest()
                        for f in frames))


def _ok(road: str, frames: np.ndarray) -> Outcome:
    return Outcome(road, dtype=str(frames.dtype), shape=tuple(frames.shape[1:]),
                   frames=_digests(frames))


def _frames_of_volume(array: np.ndarray, frame_ndim: int) -> np.ndarray:
    """A volume as a stack of 2D (or 2D + samples) frames, whatever its leading axes."""
    return array.reshape((-1, *array.shape[array.ndim - frame_ndim:]))


def _run(road: str, path: Path, frame_ndim: int) -> Outcome:
    from dicomdecode.apps.compat import MissingAttributeError
    from dicomdecode.errors import DicomDecodeError

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frames = _ROADS[road](path, frame_ndim)
        reasons = [str(w.message) for w in caught if path.name in str(w.message)]
        if frames is None:
            return Outcome(road, refused=reasons[0] if reasons else "nothing returned")
        failed = [r for r in reasons if "could not be loaded" in r]
        if road == "load" and failed:  # some volumes of the file loaded, others failed
            return dataclasses.replace(_ok(road, frames), partial=failed[0])
        return _ok(road, frames)
    except _Partial as exc:
        return dataclasses.replace(_ok(road, exc.frames), partial=str(exc))
    except _Refused as exc:
        return Outcome(road, refused=str(exc))
    except MissingAttributeError as exc:
        # combine_slices follows dicom-numpy: a slice without position, orientation or
        # spacing cannot be combined, whatever its pixels: the road does not apply
        return Outcome(road, not_applicable=f"{type(exc).__name__}: {exc}")
    except _NotApplicable as exc:
        return Outcome(road, not_applicable=str(exc))
    except DicomDecodeError as exc:
        return Outcome(road, refused=f"{type(exc).__name__}: {exc}")
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as exc:
        from dicomdecode.apps.compat import DicomImportException

        if road == "combine_slices" and isinstance(exc, DicomImportException):
            return Outcome(road, refused=f"DicomImportException: {exc}")
        return Outcome(road, untyped=f"{type(exc).__name__}: {exc}"[:500])


class _NotApplicable(Exception):
    """The road's own rule excludes the file before its pixels are read."""


class _Refused(Exception):
    """A road reported the file as not converted (a status, not an exception)."""


class _Partial(Exception):
    """A volume road gave the volumes that decoded and reported the file failed."""

    def __init__(self, frames: np.ndarray, reason: str) -> None:
        super().__init__(reason)
        self.frames = frames


def _decode_file(path: Path, _ndim: int) -> np.ndarray:
    import dicomdecode

    return dicomdecode.decode_file(path)


def _decode_bytes(path: Path, _ndim: int) -> np.ndarray:
    import dicomdecode

    return dicomdecode.decode(path.read_bytes()).array


def _load(path: Path, ndim: int) -> np.ndarray | None:
    import dicomdecode

    volumes = dicomdecode.load([path], rescale=False, workers=1)
    if not volumes:
        return None
    return np.concatenate([_frames_of_volume(v.array, ndim) for v in volumes])


def _slice_dataset(path: Path, _ndim: int) -> np.ndarray | None:
    from dicomdecode.apps.ml import SliceDataset

    dataset = SliceDataset([path], verify=False, scan_workers=1, rescale=False)
    if len(dataset) == 0:
        return None
    # an item that fails raises its typed error: the file is refused on this road
    return np.stack([dataset[i]["image"] for i in range(len(dataset))])


def _convert_npy(path: Path, ndim: int) -> np.ndarray | None:
    from dicomdecode.apps.convert import CONVERTED, convert

    with tempfile.TemporaryDirectory(prefix="dd-agree-") as out:
        report = convert(path, Path(out) / "out", fmt="npy", rescale=False, workers=1,
                         progress=False)
        statuses = [f for f in report.files if f.path == str(path)]
        arrays = [np.load(p) for p in sorted((Path(out) / "out").rglob("*.npy"))]
        if not statuses or statuses[0].status != CONVERTED:
            reason = statuses[0].reason if statuses else "not reported"
            status = f"{statuses[0].status if statuses else '?'}: {reason}"
            if arrays:  # the volumes that decoded were written, the file reported failed
                raise _Partial(np.concatenate([_frames_of_volume(a, ndim) for a in arrays]),
                               status)
            raise _Refused(status)
        if not arrays:
            raise _Refused("converted, but no .npy written")
        return np.concatenate([_frames_of_volume(a, ndim) for a in arrays])


def _combine_slices(path: Path, ndim: int) -> np.ndarray:
    from dicomdecode.apps.compat import combine_slices, orientation_refusal
    from dicomdecode.read.dataset import read_dataset

    dataset = read_dataset(path)
    refusal = orientation_refusal(dataset)
    if refusal is not None:  # dicom-numpy's geometry rule, not a verdict on the pixels
        raise _NotApplicable(f"orientation refused as dicom-numpy does: {refusal}")
    voxels, _affine = combine_slices([dataset], rescale=False, c_order_axes=True)
    return _frames_of_volume(voxels, ndim)


_ROADS = {"decode_file": _decode_file, "decode_bytes": _decode_bytes, "load": _load,
          "slice_dataset": _slice_dataset, "convert_npy": _convert_npy,
          "combine_slices": _combine_slices}


def _untiled(reference: np.ndarray, other: Outcome) -> np.ndarray | None:
    """`reference` (decode_file's frames) cut into `other`'s tiles, for a mosaic."""
    from dicomdecode.scan.flavours.mosaic import untile

    if len(other.shape) < 2 or reference.ndim < 3:
        return None
    tile_rows, tile_cols = other.shape[:2]
    rows, cols = reference.shape[1:3]
    if (tile_rows, tile_cols) == (rows, cols) or rows % tile_rows or cols % tile_cols:
        return None
    n = len(other.frames) // max(len(reference), 1)
    return np.concatenate([untile(f, n, tile_rows, tile_cols) for f in reference])


@dataclass
class Verdict:
    """The roads' outcomes and whether they agree (``disagree`` empty when they do)."""

    outcomes: list[Outcome]
    disagree: str = ""
    untyped: str = ""


def check(path: str | Path, roads: tuple[str, ...] = ROADS) -> Verdict:
    """Put `path` through `roads` and compare them (see the module docstring)."""
    path = Path(path)
    reference: np.ndarray | None = None
    try:
        import dicomdecode

        reference = dicomdecode.decode_file(path)
    except Exception:  # noqa: BLE001 - the road itself reports it below
        reference = None
    frame_ndim = 2 if reference is None else reference.ndim - 1
    outcomes = [_run(road, path, frame_ndim) for road in roads]
    untyped = "; ".join(o.summary() for o in outcomes if o.untyped)
    verdict = Verdict(outcomes, untyped=untyped)
    groups: Counter[tuple[Any, ...]] = Counter()
    keys = []
    for o in outcomes:
        if o.not_applicable:
            continue
        if o.untyped:
            continue  # its own class (untyped): agreement is judged among the rest
        if o.refused:
            key = ("refused",)
        elif o.partial:
            key = ("partial", o.dtype, o.shape, o.frames)
        else:
            key: tuple[Any, ...] = (o.dtype, o.shape, o.frames)
            if reference is not None and o.shape != tuple(reference.shape[1:]):
                tiles = _untiled(reference, o)
                if tiles is not None and (str(tiles.dtype), tiles.shape[1:],
                                          _digests(tiles)) == key:
                    key = ("same-as-decode_file",)
            if reference is not None and key == (str(reference.dtype),
                                                 tuple(reference.shape[1:]),
                                                 _digests(reference)):
                key = ("same-as-decode_file",)
        keys.append(key)
        groups[key] += 1
    data = [key for key in groups if key != ("refused",)]
    whole = [key for key in data if key[0] != "partial"]
    # one set of frames at most; a whole file's frames never beside a refusal (a partial
    # road and a refusal agree: both say the file is broken)
    if len(data) > 1 or (whole and ("refused",) in groups):
        verdict.disagree = " | ".join(o.summary() for o in outcomes)
    return verdict
