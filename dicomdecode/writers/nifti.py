"""NIfTI writer: ``.nii.gz`` (or ``.nii``), a BIDS sidecar as dcm2niix writes it, and the
per-slice provenance in its own file.

The layout is the one ``Volume.to_nifti()`` gives (:func:`dicomdecode.nifti.nifti_stream_layout`:
RAS, x/y/z[/t], without its voxels), so geometry has one source of truth; the header bytes
are built without nibabel (:mod:`dicomdecode.writers.nifti_header` says why: its import alone
costs more than dcm2niix's whole run), equal to the ones nibabel writes for that image; the
fields dcm2niix fills (descrip, dim_info, slice_code, TR) come from the same acquisition facts
as the sidecar (:mod:`dicomdecode.writers.metadata`).

The voxels are streamed, not handed to ``nibabel.save``: the volume's own C-order array is
NIfTI's x-fastest order (the affine describes our axes, so nothing is reoriented), and it is
cast to the compact dtype (:mod:`dicomdecode.writers.compact`) one slice block at a time
straight into a gzip stream compressed on several threads (:mod:`dicomdecode.writers.stream`).
No whole-volume copy is made; the extra memory is a few blocks.

``convert`` may hand over a volume of stored values with its plan
(:class:`~dicomdecode.writers.compact.StoredValues`): those are written as they are, with
the rescale as scl_slope/scl_inter, as dcm2niix writes them.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.nifti import nifti_stream_layout
from dicomdecode.writers import (
    atomic_path,
    compact,
    output_paths,
    remove_path,
    tmp_name,
    write_json,
)
from dicomdecode.writers.compact import (
    Storage,
    StoredValues,
    blocks,
    choose_storage,
    stored_storage,
)
from dicomdecode.writers.metadata import (
    acquisition,
    bids_sidecar,
    diffusion_tables,
    nifti_header_fields,
    provenance,
)
from dicomdecode.writers.nifti_header import nifti1_header
from dicomdecode.writers.settings import WriteOptions
from dicomdecode.writers.stream import open_output

if TYPE_CHECKING:
    from dicomdecode.scan.flavours.acquisition import Acquisition
    from dicomdecode.volume import Volume

def sidecar(volume: Volume, acq: Acquisition | None = None,
            storage: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON sidecar: dcm2niix's BIDS keys (:func:`metadata.bids_sidecar`), plus, under
    ``dicomdecode``, our warnings about the volume when there are any and how the writer
    stored the voxels (``storage``: array dtype, stored dtype, scl_slope/scl_inter)."""
    out = bids_sidecar(volume, acq)
    ours: dict[str, Any] = {}
    if volume.warnings:
        ours["warnings"] = list(volume.warnings)
    if storage:
        ours["storage"] = storage
    if ours:
        out["dicomdecode"] = ours
    return out


def usable_affine(volume: Volume) -> Volume:
    """``volume`` itself, or a copy whose singular affine (images without geometry, e.g.
    secondary capture) is completed to an invertible one, as NIfTI needs; says so in
    ``warnings``. Non-zero columns are kept; missing directions become orthogonal unit
    vectors (1 mm)."""
    m = np.asarray(volume.affine, dtype=float)[:3, :3]
    if np.isfinite(m).all() and abs(np.linalg.det(m)) > 1e-9:
        return volume
    m = np.nan_to_num(m)
    u, s, vt = np.linalg.svd(m)
    s = np.where(s > 1e-9, s, 1.0)
    affine = np.array(volume.affine, dtype=float)
    affine[:3, :3] = u @ np.diag(s) @ vt
    affine[:3, 3] = np.nan_to_num(affine[:3, 3])
    note = ("no usable geometry in the header (singular affine): "
            "unit spacing and orthogonal axes assumed for NIfTI")
    return dataclasses.replace(volume, affine=affine, warnings=[*volume.warnings, note])


def nifti_safe_dtype(volume: Volume) -> Volume:
    """``volume``, or a copy with 64-bit integers narrowed to a type NIfTI readers accept
    (nibabel refuses int64/uint64 by default): int32/uint32 when every value fits exactly,
    else float64 (noted in ``warnings``)."""
    arr = volume.array
    if arr.dtype not in (np.int64, np.uint64):
        return volume
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    for candidate in (np.uint8, np.int16, np.uint16, np.int32, np.uint32):
        info = np.iinfo(candidate)
        if info.min <= lo and hi <= info.max:
            return dataclasses.replace(volume, array=arr.astype(candidate))
    note = f"{arr.dtype} values beyond 32 bits stored as float64 in NIfTI"
    return dataclasses.replace(volume, array=arr.astype(np.float64),
                               warnings=[*volume.warnings, note])


@dataclasses.dataclass(frozen=True)
class Prepared:
    """What writing ``volume`` as NIfTI takes, worked out before any voxel is written: the
    volume as written (usable affine, NIfTI-safe dtype), its acquisition facts, the array
    to stream and its storage, the array dtype the sidecar names, and the header bytes."""

    volume: Volume
    acq: Acquisition | None
    source: np.ndarray
    storage: Storage
    array_dtype: np.dtype
    header: bytes


def prepare_nifti(volume: Volume, options: WriteOptions,
                  stored: StoredValues | None = None,
                  known: tuple[Any, Acquisition | None] | None = None) -> Prepared:
    """The header and storage of ``volume`` (see :func:`write_nifti`). On the stored-values
    road nothing here reads a voxel (shape, dtype, affine and headers only), so the header
    of a series can be built before it is decoded (:class:`StoredStream`).

    ``known``: an earlier :func:`acquisition_key` and the acquisition found for it, used
    when ``volume`` has the same key (it reads headers: ~10 ms for a 300-slice series)."""
    volume = nifti_safe_dtype(usable_affine(volume))
    if known is not None and known[0] == acquisition_key(volume):
        acq = known[1]
    else:
        acq = acquisition(volume)
    layout = nifti_stream_layout(volume)
    source = layout.source
    storage = Storage(source.dtype.newbyteorder("<"))  # RGB24: its bytes, as uint8
    rgb24 = layout.dtype.names is not None
    array_dtype = volume.array.dtype
    if stored is not None:
        if rgb24 or source.dtype != stored.stored_dtype:
            raise ValueError(f"a {source.dtype} volume is not the stored values of the plan "
                             f"({stored.stored_dtype}, one sample per pixel)")
        source, storage = stored_storage(source, stored)
        array_dtype = np.dtype(stored.array_dtype)
    elif options.compact_for("nifti") and source.dtype.kind in "iuf" and not rgb24:
        storage = choose_storage(volume, source)
    header = _header(layout.shape, layout.dtype if rgb24 else storage.dtype, layout.affine,
                     storage, nifti_header_fields(volume, acq))
    return Prepared(volume, acq, source, storage, array_dtype, header)


def acquisition_key(volume: Volume) -> tuple[Any, ...]:
    """What :func:`~dicomdecode.writers.metadata.acquisition` reads of a volume: its shape,
    samples per pixel, and each slice's file, frame and position (the facts themselves
    come from those files' headers)."""
    return (volume.array.shape, (volume.meta or {}).get("SamplesPerPixel"),
            tuple((s.path, s.frame, s.position) for s in volume.slices))


def write_nifti(volume: Volume, base: Path, options: WriteOptions | None = None,
                stored: StoredValues | None = None) -> list[Path]:
    """Write ``base.nii.gz`` (``base.nii`` when ``options.compress`` is off), its sidecar
    ``base.json``, ``base_slices.json`` (the volume's geometry and per-slice provenance)
    and, for a diffusion series, ``base.bval`` / ``base.bvec``; return the paths (image
    first).

    ``stored``: ``volume.array`` holds the stored values of this plan (convert's
    stored-values road, :func:`~dicomdecode.writers.compact.plan_stored_values`); they
    are written with the plan's scl_slope/scl_inter, whatever ``options.compact``."""
    options = options or WriteOptions()
    image_path = output_paths(base, "nifti", compress=options.compress)[0]
    prep = prepare_nifti(volume, options, stored)
    with atomic_path(image_path) as tmp:
        with open_output(tmp, options, options.compress) as fh:
            fh.write(prep.header)
            for block in blocks(prep.source, prep.storage):
                fh.write(block.reshape(-1).view(np.uint8).data)
    return [image_path, *_write_companions(prep, base, options)]


def _write_companions(prep: Prepared, base: Path, options: WriteOptions) -> list[Path]:
    """The files beside the image: sidecar, ``_slices.json``, and ``.bval``/``.bvec`` for
    a diffusion series (from metadata only, never the voxels)."""
    _, json_path, slices_path = output_paths(base, "nifti", compress=options.compress)
    volume, acq = prep.volume, prep.acq
    write_json(json_path, sidecar(volume, acq, prep.storage.describe(prep.array_dtype)))
    slices_doc = provenance(volume)
    slices_doc["dtype"] = str(prep.array_dtype)  # load()'s, as on the old road
    write_json(slices_path, slices_doc)
    written = [json_path, slices_path]
    tables = diffusion_tables(volume, acq)
    if tables is not None:  # diffusion: FSL b-values and vectors, as dcm2niix
        for suffix, text in zip((".bval", ".bvec"), tables, strict=True):
            path = base.with_name(base.name + suffix)
            with atomic_path(path) as tmp:
                tmp.write_text(text)
            written.append(path)
    return written


class StoredStream:
    """The image file of convert's stored-values road, written while the series decodes.

    The header is built from a volume that stands for the finished one (the metadata of
    a series assembled from its headers only: shape, dtype, affine, acquisition facts);
    then each decoded chunk of slices (stored values, in the final slice order) is handed
    to :meth:`put`, and a writer thread casts, compresses and writes it while the next
    chunk decodes. The queue holds at most ``depth`` chunks, so memory stays a few chunks.
    :meth:`commit` takes the finished volume's metadata: when its header is the one
    written, the file is moved into place (atomically) with its companions; otherwise
    nothing is kept and the caller writes the volume the ordinary way. Chunks are whole
    multiples of the writer's block (:data:`~dicomdecode.writers.compact.BLOCK_BYTES`, read at
    each call),
    so the compressor receives the same pieces as :func:`write_nifti` gives it, and the
    file is byte for byte the same.
    """

    def __init__(self, predicted: Volume, base: Path, options: WriteOptions,
                 plan: StoredValues, depth: int = 2, blocks_per_chunk: int = 2) -> None:
        self.base, self.options, self.plan = base, options, plan
        self.path = output_paths(base, "nifti", compress=options.compress)[0]
        prep = prepare_nifti(predicted, options, plan)
        self.header, self._storage = prep.header, prep.storage
        self._known = (acquisition_key(prep.volume), prep.acq)
        per_row = max(1, int(np.prod(prep.source.shape[1:])) * prep.source.dtype.itemsize)
        #: images per chunk: whole writer blocks (the same pieces as write_nifti's)
        self.chunk = max(1, compact.BLOCK_BYTES // per_row) * blocks_per_chunk
        self._tmp = tmp_name(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._write, name="nifti-writer", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        try:
            with open_output(self._tmp, self.options, self.options.compress) as fh:
                fh.write(self.header)
                while (chunk := self._queue.get()) is not None:
                    if self._abandoned:
                        continue
                    source = stored_storage(chunk, self.plan)[0]
                    for block in blocks(source, self._storage):
                        fh.write(block.reshape(-1).view(np.uint8).data)
        except BaseException as exc:  # noqa: BLE001 - handed to the decoding thread
            self._error = exc
            while self._queue.get() is not None:  # keep taking chunks: put never blocks
                pass

    def put(self, chunk: np.ndarray) -> None:
        """Queue the next ``chunk`` of stored values (blocks while ``depth`` are queued);
        raises the writer's error, if it failed."""
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self) -> None:
        """Wait for the writer to finish the file; raise its error, if any."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            remove_path(self._tmp)
            raise self._error

    def abandon(self) -> None:
        """Stop writing and remove the partial file (the ordinary road takes over)."""
        self._abandoned = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        remove_path(self._tmp)

    def commit(self, volume: Volume) -> list[Path] | None:
        """Keep the written file when ``volume`` (the finished volume's metadata, of the
        plan's stored values) gives the header that was written: move it into place and
        write its companions; return the paths (image first). None, with nothing kept,
        when the header differs."""
        prep = prepare_nifti(volume, self.options, self.plan, self._known)
        if prep.header != self.header or prep.storage != self._storage:
            remove_path(self._tmp)
            return None
        try:
            os.replace(self._tmp, self.path)
        except BaseException:
            remove_path(self._tmp)
            raise
        return [self.path, *_write_companions(prep, self.base, self.options)]


def _header(shape: tuple[int, ...], dtype: np.dtype, affine: np.ndarray, storage: Storage,
            fields: dict[str, Any]) -> bytes:
    """The header bytes: layout, storage type and scaling, and dcm2niix's fields (descrip,
    dim_info, slice_code, pixdim[4] = TR in s, 0 when none)."""
    dim_info = None
    if fields["phase"] is not None:
        dim_info = (fields["freq"], fields["phase"], fields["slice"])
    return nifti1_header(shape, dtype, affine, slope=storage.slope, inter=storage.inter,
                         descrip=fields["descrip"], dim_info=dim_info,
                         slice_code=fields["slice_code"] or 0, tr=fields["tr"] or 0.0)


__all__ = ["Prepared", "StoredStream", "prepare_nifti", "sidecar", "write_nifti"]
