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
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dicomdecode.writers.metadata import jsonable, slice_provenance, volume_metadata
from dicomdecode.writers.settings import WriteOptions

if TYPE_CHECKING:
    from dicomdecode.volume import Volume

TMP_MARK = ".dicomdecode-tmp-"
#: The per-slice provenance file next to a NIfTI / npy output (kept out of the sidecar).
SLICES_SUFFIX = "_slices.json"
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


def write_json(path: str | os.PathLike[str], data: Any) -> Path:
    """Write JSON atomically (laid out by :func:`json_text`)."""
    final = Path(path)
    with atomic_path(final) as tmp:
        tmp.write_text(json_text(jsonable(data)))
    return final


def json_text(data: Any) -> str:
    """``data`` as JSON text a person can read: a dict's keys one per line, a list of dicts
    or lists one item per line, each value below that on its line.

    Not ``json.dumps(indent=2)``: with an indent the standard library falls back from its C
    encoder to the pure-Python one, which took 5-10 ms of a 0.5 s convert for a 300-slice
    ``_slices.json``; each line here is one call of the C encoder."""
    if not isinstance(data, dict) or not data:
        return json.dumps(data) + "\n"
    lines = []
    for key, value in data.items():
        name = json.dumps(str(key))
        if isinstance(value, dict) and value:
            inner = ",\n    ".join(f"{json.dumps(str(k))}: {json.dumps(v)}"
                                   for k, v in value.items())
            lines.append(f"  {name}: {{\n    {inner}\n  }}")
        elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
            inner = ",\n    ".join(json.dumps(v) for v in value)
            lines.append(f"  {name}: [\n    {inner}\n  ]")
        else:
            lines.append(f"  {name}: {json.dumps(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def output_paths(base: str | os.PathLike[str], fmt: str, *, compress: bool = True
                 ) -> list[Path]:
    """The files a volume writer creates for ``base`` (no suffix), main output first
    (``compress``: NIfTI as ``.nii.gz``, else ``.nii``)."""
    base = Path(base)
    slices = base.with_name(base.name + SLICES_SUFFIX)
    if fmt == "nifti":
        image = base.name + (".nii.gz" if compress else ".nii")
        return [base.with_name(image), base.with_name(base.name + ".json"), slices]
    if fmt == "npy":
        return [base.with_name(base.name + ".npy"), base.with_name(base.name + ".json"), slices]
    if fmt == "npz":
        return [base.with_name(base.name + ".npz")]
    if fmt == "zarr":
        return [base.with_name(base.name + ".zarr")]
    raise ValueError(f"unknown volume format {fmt!r}; choose one of {', '.join(VOLUME_FORMATS)}")


def write_volume(volume: Volume, base: str | os.PathLike[str], fmt: str,
                 options: WriteOptions | None = None) -> list[Path]:
    """Write ``volume`` as ``fmt`` next to ``base`` (a path without suffix); return paths.

    ``options`` (:class:`~dicomdecode.writers.settings.WriteOptions`): compression and the
    compact on-disk dtype; the default writes ``.nii.gz`` at ISA-L level 2, compact for
    NIfTI, ``load()``'s dtype for npy/npz/zarr."""
    writer: Callable[[Volume, Path, WriteOptions | None], list[Path]]
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
    return writer(volume, Path(base), options)


__all__ = [
    "FORMATS",
    "WriteOptions",
    "SLICES_SUFFIX",
    "VOLUME_FORMATS",
    "atomic_path",
    "clean_temporaries",
    "jsonable",
    "output_paths",
    "slice_provenance",
    "volume_metadata",
    "json_text",
    "write_json",
    "write_volume",
]
