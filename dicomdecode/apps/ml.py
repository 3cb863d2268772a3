"""Datasets for ML data loaders: one item per series or per 2D slice, safe in worker processes.

Usage::

    from dicomdecode.ml import SliceDataset, SeriesDataset
    ds = SliceDataset("/data/ct")              # scans once, here, in the main process
    ds = SliceDataset("ct.index.json")         # or a saved index (no rescan at all)
    loader = torch.utils.data.DataLoader(ds, num_workers=4, batch_size=16)

Why it is shaped like this:

- The scan happens once, in the constructor (or not at all with a saved index from
  :func:`dicomdecode.index.build_index`); workers receive the result by pickling.
- Pickled state is lightweight: plain tuples, strings and numbers. No open files, no pydicom
  datasets, no GDCM objects, no thread pools. Each ``__getitem__`` opens, decodes and closes,
  so nothing breaks under ``fork`` or ``spawn`` and memory does not grow across epochs.
- ``SliceDataset`` decodes only the frame it needs (one codestream of a multi-frame file).
- Every file is ``os.stat``-ed before use and compared with the size/mtime recorded at scan
  time, so a file changed under a running job raises ``StaleIndexError`` naming it.
- torch is optional: without it these are plain :class:`collections.abc.Sequence` objects;
  with ``as_tensor=True`` images come out as ``torch.Tensor`` via ``torch.from_numpy``.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.apps.index import (
    FileStamp,
    Index,
    check_stamp,
    is_index_file,
    read_index,
    series_files,
)
from dicomdecode.assemble import assemble_series
from dicomdecode.assemble import rescale as _rs
from dicomdecode.decode import decode_source
from dicomdecode.decode.canonical import target_dtype
from dicomdecode.errors import DecodeError
from dicomdecode.options import HandlerChoice, Options, PhilipsScaling, RescaleMode
from dicomdecode.read.pixel_source import PixelSource, pixel_source_of_image

if TYPE_CHECKING:
    from dicomdecode.scan import ScanResult, SeriesInfo

Rescale = RescaleMode
Item = dict[str, Any]
Transform = Callable[[Item], Any]

TORCH_HINT = 'as_tensor=True needs PyTorch: pip install "dicomdecode[torch]"'

# ---------------------------------------------------------------------------------------
# source resolution (runs once, in the constructor)


def _resolve(source: Any, workers: int | None,
             storage_options: dict[str, Any] | None = None) -> Index:
    """Turn what the user passed into an Index (scan result + file stamps)."""
    if isinstance(source, Index):
        return source
    if hasattr(source, "series") and hasattr(source, "skipped"):  # a ScanResult
        return Index(source, _stamp_all(series_files(source)))
    if isinstance(source, str | os.PathLike):
        if os.path.isfile(source) and is_index_file(source):
            return read_index(source, verify=True)
        paths: list[str] = [os.fspath(source)]
    else:
        paths = [os.fspath(p) for p in source]
        if len(paths) == 1 and os.path.isfile(paths[0]) and is_index_file(paths[0]):
            return read_index(paths[0], verify=True)
    from dicomdecode.scan import scan

    result = scan(paths, workers=workers, storage_options=storage_options)
    if result.staging is not None and result.staging.remote is not None:
        # remote objects: every image's pixels now (many in flight), before the files are
        # stamped and before data-loader workers (forked or spawned) read them
        from dicomdecode.read.sources.mirror import ensure_complete

        ensure_complete(series_files(result))
    return Index(result, _stamp_all(series_files(result)))


def _stamp_all(paths: Iterable[str]) -> dict[str, FileStamp]:
    out: dict[str, FileStamp] = {}
    for p in paths:
        try:
            out[p] = FileStamp.of(p)
        except OSError:  # reported as stale when an item needs it
            continue
    return out


# ---------------------------------------------------------------------------------------
# shared behaviour


def _to_tensor(value: Any) -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without torch
        raise ImportError(TORCH_HINT) from exc
    if isinstance(value, np.ndarray):
        if not value.flags.writeable or not value.flags.c_contiguous:
            value = np.ascontiguousarray(value).copy()
        return torch.from_numpy(value)
    return value


def _check_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise ImportError(TORCH_HINT) from exc


class _DatasetBase(Sequence[Any]):
    """Common constructor options, staleness checks, tensor conversion, transform."""

    def __init__(self, source: Any, *, rescale: Rescale = "auto",
                 transform: Transform | None = None, as_tensor: bool = False,
                 handlers: HandlerChoice = None, verify: bool = True,
                 scan_workers: int | None = None,
                 philips_scaling: PhilipsScaling = "precise",
                 options: Options | None = None,
                 storage_options: dict[str, Any] | None = None, **more: Any) -> None:
        # checked here, once, before the scan: a typo fails at construction
        self.options = Options.resolve(options, rescale=rescale, handlers=handlers,
                                       philips_scaling=philips_scaling, **more)
        if as_tensor:
            _check_torch()
        index = _resolve(source, scan_workers, storage_options)
        #: keeps mirrored remote objects (and staged in-memory items) alive with the dataset
        self._staging = index.scan.staging
        self.rescale: Rescale = self.options.rescale
        self.transform = transform
        self.as_tensor = as_tensor
        self.handlers = self.options.handlers
        self.verify = verify
        self.philips_scaling: PhilipsScaling = self.options.philips_scaling
        self._index_path = index.path
        self._stamps: dict[str, tuple[int, int]] = {
            p: (s.size, s.mtime_ns) for p, s in index.files.items()}
        self._setup(index.scan)

    def _setup(self, scan: ScanResult) -> None:
        raise NotImplementedError

    def _check(self, path: str) -> None:
        if not self.verify:
            return
        stamp = self._stamps.get(path)
        check_stamp(path, FileStamp(*stamp) if stamp else None, self._index_path)

    def _finish(self, item: Item) -> Any:
        if self.as_tensor:
            item = {k: _to_tensor(v) for k, v in item.items()}
        return self.transform(item) if self.transform is not None else item

    def _position(self, i: int) -> int:
        i = operator.index(i)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} out of range for {type(self).__name__} of {n}")
        return i

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]


# ---------------------------------------------------------------------------------------
# one item per 2D slice / frame


class SliceDataset(_DatasetBase):
    """One item per 2D slice or frame, in series order then geometric order.

    Item: ``{"image": (rows, cols[, samples]) array, "position": float64 (3,) LPS mm (NaN
    when unknown), "series_uid": DICOM Series Instance UID, "series_key": the scan's unique
    series key (differs from series_uid where one DICOM series was split), "path": file,
    "frame": 0-based frame in the file, "index": item number, "slope", "intercept": the
    scale applied (or to apply, with ``rescale=False``)}``. A Siemens mosaic gives one item
    per tile.

    Rescale is the assembler's one policy (:mod:`dicomdecode.assemble.rescale`): each
    slice uses its own slope/intercept (Philips precise scaling by default), and the dtype
    is the one ``load_series`` gives the whole series (chosen from its header), so every
    slice of one series has that dtype and batches collate.

    Options (``rescale``, ``handlers``, ``philips_scaling``, or ``options=Options(...)``)
    are checked when the dataset is made. ``strict``, ``mask_padding`` and
    ``invert_monochrome1`` are volume-level options: :class:`SeriesDataset` takes them.
    """

    def _setup(self, scan: ScanResult) -> None:
        # per series: (series_uid, key, output dtype; None where the header is refused)
        self._series: list[tuple[str, str, np.dtype | None]] = []
        # per slice: (path, frame, position or None, series number, slope, intercept,
        #             mosaic (tile, n_tiles, tile_rows, tile_cols) or None)
        self._slices: list[tuple[str, int, tuple[float, ...] | None, int, float, float,
                                 tuple[int, int, int, int] | None]] = []
        # per slice: the pixel description (header values and pixel offset, no pixels)
        self._jobs: list[PixelSource] = []
        for s_idx, series in enumerate(scan.series):
            images = list(series.images)
            scales, _ = _rs.image_scales(images, self.philips_scaling)
            try:
                stored = target_dtype(pixel_source_of_image(images[0]))
                dtype: np.dtype | None = _rs.series_dtype(series, stored, self.rescale,
                                                          self.philips_scaling)
            except ValueError:  # a header the guard refuses: its items raise DecodeError
                dtype = None
            for im, sc in zip(images, scales, strict=True):
                path = os.fspath(im.path)
                job = pixel_source_of_image(im)
                if im.mosaic_slices and im.mosaic_tile:
                    for k, pos in enumerate(_mosaic_positions(im)):
                        self._jobs.append(job)
                        self._slices.append((path, int(im.frame), pos, s_idx, sc.slope,
                                             sc.intercept, (k, im.mosaic_slices,
                                                            *im.mosaic_tile)))
                    continue
                pos = tuple(float(v) for v in im.position) if im.position is not None \
                    else None
                self._slices.append((path, int(im.frame), pos, s_idx, sc.slope,
                                     sc.intercept, None))
                self._jobs.append(job)
            self._series.append((str(series.series_uid), str(series.uid), dtype))

    def __len__(self) -> int:
        return len(self._slices)

    @property
    def series_keys(self) -> list[str]:
        """The unique series key of every item, in item order (for grouped samplers)."""
        return [self._series[s[3]][1] for s in self._slices]

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        i = self._position(i)
        path, frame, pos, s_idx, slope, intercept, tile = self._slices[i]
        series_uid, key, dtype = self._series[s_idx]
        self._check(path)
        image = self._decode(self._jobs[i], frame, tile, dtype, slope, intercept)
        position = np.asarray(pos if pos is not None else (math.nan,) * 3, dtype=np.float64)
        return self._finish({
            "image": image, "position": position, "series_uid": series_uid,
            "series_key": key, "path": path, "frame": frame, "index": i,
            "slope": slope, "intercept": intercept,
        })

    def _decode(self, source: PixelSource, frame: int, tile: tuple[int, int, int, int] | None,
                dtype: np.dtype | None, slope: float, intercept: float) -> np.ndarray:
        # the same road as every decode: one frame of the described file (the guard
        # raises DecodeError for a refused header before the dtype is needed)
        stored = decode_source(source, [frame], self.options).array[0]
        if dtype is None:
            raise DecodeError("the series' header is refused by the guard", source.path)
        if tile is not None:
            from dicomdecode.scan.flavours.mosaic import untile

            k, n, tr, tc = tile
            stored = untile(stored, n, tr, tc)[k]
        out = _rs.apply(stored, _rs.Scale(slope, intercept), dtype, self.rescale)
        return np.ascontiguousarray(out)


def _mosaic_positions(im: Any) -> list[tuple[float, ...] | None]:
    """Positions of a mosaic's tiles, as the assembler computes them."""
    n = int(im.mosaic_slices)
    if im.position is None or im.orientation is None:
        return [None] * n
    from dicomdecode import geometry

    normal = (np.asarray(im.mosaic_normal, float) if im.mosaic_normal
              else geometry.slice_normal(im.orientation))
    spacing = float(im.spacing_between_slices or im.slice_thickness or 1.0)
    p0 = np.asarray(im.position, float)
    return [tuple(float(v) for v in p0 + k * spacing * normal) for k in range(n)]


# ---------------------------------------------------------------------------------------
# one item per series


class SeriesDataset(_DatasetBase):
    """One item per series: the assembled :class:`~dicomdecode.volume.Volume`.

    Item: ``{"image": Volume.array, "affine": 4x4 float64 (index -> LPS mm), "spacing":
    float64 (3,), "meta": Volume.meta, "series_uid", "series_key", "warnings": list[str],
    "index": item number}``. Use ``batch_size=None`` (or 1) in a DataLoader: volumes differ
    in shape. ``workers`` is passed to :func:`~dicomdecode.assemble.load_series`; the
    default 1 keeps decoding serial inside each loader worker (no nested pools).
    """

    def __init__(self, source: Any, *, rescale: Rescale = "auto",
                 transform: Transform | None = None, as_tensor: bool = False,
                 handlers: HandlerChoice = None, verify: bool = True,
                 scan_workers: int | None = None,
                 philips_scaling: PhilipsScaling = "precise", strict: bool = False,
                 workers: int | None = 1, invert_monochrome1: bool = False,
                 mask_padding: bool = False, options: Options | None = None,
                 storage_options: dict[str, Any] | None = None) -> None:
        super().__init__(source, rescale=rescale, transform=transform, as_tensor=as_tensor,
                         handlers=handlers, verify=verify, scan_workers=scan_workers,
                         philips_scaling=philips_scaling, options=options, strict=strict,
                         workers=workers, invert_monochrome1=invert_monochrome1,
                         mask_padding=mask_padding, storage_options=storage_options)
        self.strict = self.options.strict
        self.workers = self.options.workers

    def _setup(self, scan: ScanResult) -> None:
        self._series_infos: list[SeriesInfo] = list(scan.series)

    def __len__(self) -> int:
        return len(self._series_infos)

    @property
    def series(self) -> list[SeriesInfo]:
        """The series, in item order."""
        return list(self._series_infos)

    def __getitem__(self, i: int) -> Any:  # type: ignore[override]
        i = self._position(i)
        series = self._series_infos[i]
        for ref in series.images:
            self._check(os.fspath(ref.path))
        volume = assemble_series(series, self.options)
        return self._finish({
            "image": volume.array,
            "affine": np.asarray(volume.affine, dtype=np.float64),
            "spacing": np.asarray(volume.spacing, dtype=np.float64),
            "meta": volume.meta,
            "series_uid": str(series.series_uid),
            "series_key": str(series.uid),
            "warnings": list(volume.warnings),
            "index": i,
        })


__all__ = ["SliceDataset", "SeriesDataset", "TORCH_HINT"]
