"""Writers: one Volume (or one DICOM file) to disk, atomically.

Every writer builds its output under a temporary name in the destination folder and then
``os.replace``-s it into place, so an interrupted conversion never leaves a half-written file
under a final name; ``convert --resume`` can therefore trust that an existing output is whole.

``write_volume(volume, base, fmt)`` dispatches on format and returns the paths written, the
first being the main output.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dicomdecode.volume import Volume

TMP_MARK = ".dicomdecode-tmp-"
VOLUME_FORMATS = ("nifti", "npy", "npz", "zarr")
FORMATS = (*VOLUME_FORMATS, "dicom")


def tmp_name(final: Path) -> Path:
    """A hidden temporary sibling of ``final`` that keeps its suffixes (nibabel needs them)."""
    return final.with_name(f"{TMP_MARK}{uuid.uuid4().hex[:8]}-{final.name}")


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; on success move it onto ``final`` in one step.

    Works for files and folders (Zarr stores). On error the temporary is removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(final)
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            # os.replace cannot replace a non-empty folder: move the old one aside first.
            old = tmp_name(final)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        remove_path(tmp)
        raise


def remove_path(path: Path) -> None:
    """Remove a file or folder if present."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_temporaries(root: str | os.PathLike[str]) -> list[Path]:
    """Delete leftovers of a killed run (``.dicomdecode-tmp-*``) under ``root``."""
    removed: list[Path] = []
    root = Path(root)
    if not root.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(root):
        for name in list(dirnames) + filenames:
            if name.startswith(TMP_MARK):
                p = Path(dirpath) / name
                remove_path(p)
                removed.append(p)
                if name in dirnames:
                    dirnames.remove(name)
    return removed


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, pydicom values, tuples and paths into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    # pydicom MultiValue, DSfloat, IS, PersonName...: numbers stay numbers where possible
    if hasattr(value, "__iter__"):
        return [jsonable(v) for v in value]
    for cast in (int, float):
        try:
            if cast is int and not float(value).is_integer():
                continue
            return cast(value)
        except (TypeError, ValueError):
            pass
    return str(value)


def volume_metadata(volume: Volume, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready description of a Volume: geometry, series metadata, warnings, provenance."""
    meta: dict[str, Any] = {
        "shape": list(volume.array.shape),
        "dtype": str(volume.array.dtype),
        "affine_lps": jsonable(np.asarray(volume.affine, dtype=float)),
        "affine_convention": "maps (slice, row, col, 1) to patient LPS mm",
        "spacing": list(volume.spacing),
        "meta": jsonable(volume.meta),
        "warnings": list(volume.warnings),
        "slices": [
            {"path": s.path, "sop_instance_uid": s.sop_instance_uid, "frame": s.frame,
             "position": jsonable(s.position), "slope": jsonable(s.slope),
             "intercept": jsonable(s.intercept), "transfer_syntax": s.transfer_syntax,
             "handler": s.handler}
            for s in volume.slices
        ],
    }
    if extra:
        meta.update(jsonable(extra))
    return meta


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON atomically."""
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_text(json.dumps(jsonable(data), indent=2, sort_keys=False) + "\n")
    return final


def output_paths(base: str | os.PathLike[str], fmt: str) -> list[Path]:
    """The files a volume writer creates for ``base`` (no suffix), main output first."""
    base = Path(base)
    if fmt == "nifti":
        return [base.with_name(base.name + ".nii.gz"), base.with_name(base.name + ".json")]
    if fmt == "npy":
        return [base.with_name(base.name + ".npy"), base.with_name(base.name + ".json")]
    if fmt == "npz":
        return [base.with_name(base.name + ".npz")]
    if fmt == "zarr":
        return [base.with_name(base.name + ".zarr")]
    raise ValueError(f"unknown volume format {fmt!r}; choose one of {', '.join(VOLUME_FORMATS)}")


def write_volume(volume: Volume, base: str | os.PathLike[str], fmt: str) -> list[Path]:
    """Write ``volume`` as ``fmt`` next to ``base`` (a path without suffix); return paths."""
    writer: Callable[[Volume, Path], list[Path]]
    if fmt == "nifti":
        from dicomdecode.writers.nifti import write_nifti as writer
    elif fmt == "npy":
        from dicomdecode.writers.numpy_io import write_npy as writer
    elif fmt == "npz":
        from dicomdecode.writers.numpy_io import write_npz as writer
    elif fmt == "zarr":
        from dicomdecode.writers.zarr_io import write_zarr as writer
    else:
        raise ValueError(f"unknown volume format {fmt!r}; choose one of {', '.join(VOLUME_FORMATS)}")
    return writer(volume, Path(base))


__all__ = [
    "FORMATS",
    "VOLUME_FORMATS",
    "atomic_path",
    "clean_temporaries",
    "jsonable",
    "output_paths",
    "volume_metadata",
    "write_json",
    "write_volume",
]
