"""Zarr writer: one Zarr array per series, chunked one slice per chunk.

Per-slice chunks let an ML data loader read any slice without touching the rest. Each chunk
is compressed with Blosc (zstd, level 3, byte shuffle): a codec made for typed arrays that
zarr runs on several chunks at once, so writing is not one thread of zlib. The affine
(LPS, maps (slice, row, col, 1)), spacing and metadata are the array's attributes. Zarr is an
optional extra; without it the writer raises :class:`MissingDependencyError` with the install
command.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.errors import DicomDecodeError
from dicomdecode.writers import atomic_path, jsonable, output_paths, volume_metadata
from dicomdecode.writers.metadata import slice_provenance
from dicomdecode.writers.numpy_io import compact_array
from dicomdecode.writers.settings import WriteOptions

if TYPE_CHECKING:
    from dicomdecode.volume import Volume

INSTALL_HINT = 'pip install "dicomdecode[zarr]"'


class MissingDependencyError(DicomDecodeError):
    """An optional library that this output format needs is not installed."""


def _zarr() -> Any:
    try:
        import zarr
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            f"the zarr output format needs the zarr package: {INSTALL_HINT}") from exc
    return zarr


def slice_chunks(shape: tuple[int, ...], samples: int = 1) -> tuple[int, ...]:
    """Chunk shape holding one 2D slice (with its colour samples) of an array of ``shape``."""
    image_dims = 3 if samples > 1 and len(shape) >= 4 else 2
    lead = len(shape) - image_dims
    return (1,) * lead + tuple(shape[lead:])


def _create(zarr: Any, path: Path, arr: np.ndarray, chunks: tuple[int, ...]) -> Any:
    """An empty Zarr array at ``path`` with the Blosc/zstd codec (zarr 3 or 2 API)."""
    if int(str(zarr.__version__).split(".")[0]) >= 3:
        from zarr.codecs import BloscCodec

        return zarr.create_array(str(path), shape=arr.shape, dtype=arr.dtype, chunks=chunks,
                                 compressors=BloscCodec(cname="zstd", clevel=3,
                                                        shuffle="shuffle"),
                                 overwrite=True)
    from numcodecs import Blosc  # pragma: no cover - zarr 2

    return zarr.open_array(str(path), mode="w", shape=arr.shape, dtype=arr.dtype,
                           chunks=chunks,
                           compressor=Blosc(cname="zstd", clevel=3, shuffle=Blosc.SHUFFLE))


def write_zarr(volume: Volume, base: Path, options: WriteOptions | None = None) -> list[Path]:
    """Write ``base.zarr`` (a directory store holding one array); return its path. The
    array is ``load()``'s unless ``options.compact`` (then ``attrs["storage"]`` says
    how to restore it)."""
    zarr = _zarr()
    (path,) = output_paths(base, "zarr")
    arr, how = compact_array(volume, options, "zarr")
    samples = int((volume.meta or {}).get("SamplesPerPixel", 1) or 1)
    with atomic_path(path) as tmp:
        z = _create(zarr, tmp, arr, slice_chunks(arr.shape, samples))
        z[...] = arr
        z.attrs.update(jsonable(volume_metadata(
            volume, extra={"slices": slice_provenance(volume), **how})))
    return [path]


__all__ = ["write_zarr", "slice_chunks", "MissingDependencyError", "INSTALL_HINT"]
