"""Zarr writer: one Zarr array per series, chunked one slice per chunk.

Per-slice chunks let an ML data loader read any slice without touching the rest. The affine
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


def write_zarr(volume: Volume, base: Path) -> list[Path]:
    """Write ``base.zarr`` (a directory store holding one array); return its path."""
    zarr = _zarr()
    (path,) = output_paths(base, "zarr")
    arr = np.ascontiguousarray(volume.array)
    samples = int((volume.meta or {}).get("SamplesPerPixel", 1) or 1)
    with atomic_path(path) as tmp:
        z = zarr.open_array(str(tmp), mode="w", shape=arr.shape, dtype=arr.dtype,
                            chunks=slice_chunks(arr.shape, samples))
        z[...] = arr
        z.attrs.update(jsonable(volume_metadata(volume,
                                                extra={"slices": slice_provenance(volume)})))
    return [path]


__all__ = ["write_zarr", "slice_chunks", "MissingDependencyError", "INSTALL_HINT"]
