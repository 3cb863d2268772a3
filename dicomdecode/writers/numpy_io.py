"""NumPy writers: ``.npy`` (+ JSON with affine and metadata) or one ``.npz``.

The ``.npz`` holds ``array``, ``affine`` (LPS, maps (slice, row, col, 1)) and ``meta`` (a JSON
string as a 0-d unicode array), so ``numpy.load(path)`` works without ``allow_pickle``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.writers import atomic_path, jsonable, output_paths, volume_metadata, write_json
from dicomdecode.writers.metadata import provenance, slice_provenance

if TYPE_CHECKING:
    from dicomdecode.volume import Volume


def write_npy(volume: Volume, base: Path) -> list[Path]:
    """Write ``base.npy`` (the array), ``base.json`` (affine, spacing, metadata) and
    ``base_slices.json`` (that and the per-slice provenance)."""
    array_path, json_path, slices_path = output_paths(base, "npy")
    with atomic_path(array_path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(volume.array), allow_pickle=False)
    write_json(json_path, volume_metadata(volume))
    write_json(slices_path, provenance(volume))
    return [array_path, json_path, slices_path]


def write_npz(volume: Volume, base: Path) -> list[Path]:
    """Write ``base.npz`` with ``array``, ``affine`` and ``meta`` (JSON text, with the
    per-slice provenance under ``slices``: one file holds everything)."""
    (path,) = output_paths(base, "npz")
    meta = json.dumps(jsonable(volume_metadata(volume,
                                               extra={"slices": slice_provenance(volume)})))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, array=np.ascontiguousarray(volume.array),
                            affine=np.asarray(volume.affine, dtype=np.float64),
                            meta=np.array(meta))
    return [path]


def read_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Read back what :func:`write_npz` wrote: ``(array, affine, meta)``."""
    with np.load(path, allow_pickle=False) as z:
        return z["array"], z["affine"], json.loads(str(z["meta"]))


__all__ = ["write_npy", "write_npz", "read_npz"]
