"""A MONAI ``ImageReader`` backed by dicomdecode: ``LoadImage(reader=DicomDecodeReader())``.

MONAI's own DICOM readers decode with pydicom or ITK; this one gives MONAI the dicomdecode
volume (any transfer syntax a handler decodes, per-slice rescale, geometric slice order)
in MONAI's convention: array axes (col, row, slice[, channel]) and a RAS affine, the same
layout as MONAI's ``PydicomReader``/``ITKReader`` and dicomdecode's NIfTI writer. A 4D series
(several volumes) or colour samples become the channel axis (last).

Needs ``pip install "dicomdecode[monai]"`` (MONAI pulls torch); importing this module
without MONAI raises ImportError saying so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    from monai.data.image_reader import ImageReader
except ImportError as exc:  # pragma: no cover - exercised only without monai
    raise ImportError('dicomdecode.monai needs MONAI: pip install "dicomdecode[monai]"') from exc

from dicomdecode.nifti import nifti_affine, nifti_data
from dicomdecode.options import Options
from dicomdecode.volume import Volume

PathLike = str | os.PathLike[str]
_SUFFIXES = (".dcm", ".dicom", ".ima", ".json")


class DicomDecodeReader(ImageReader):
    """Reads one DICOM series (a folder, its files, one multi-frame file, or a saved
    dicomdecode index) into MONAI's ``(array, meta)`` pair.

    ``series``: which series to load when the input holds several (an index into the scan's
    series list, or a series key / Series Instance UID); by default more than one is an error
    rather than a silent pick. Other keyword arguments are :class:`dicomdecode.Options`
    fields (``rescale``, ``strict``, ``handlers``...), checked when the reader is made.
    """

    def __init__(self, series: int | str | None = None, *, options: Options | None = None,
                 storage_options: dict[str, Any] | None = None, **load_kwargs: Any) -> None:
        super().__init__()
        self.series = series
        #: for URL inputs (``s3://bucket/series/``): the fsspec filesystem's options
        self.storage_options = storage_options
        self.options = Options.resolve(options, **load_kwargs)

    def verify_suffix(self, filename: Sequence[PathLike] | PathLike) -> bool:
        """Folders, DICOM-looking names (.dcm, .ima, no extension) and index files."""
        names = [filename] if isinstance(filename, str | os.PathLike) else list(filename)
        for name in names:
            p = os.fspath(name)
            if os.path.isdir(p) or "://" in p:
                continue
            suffix = os.path.splitext(p)[1].lower()
            if suffix and suffix not in _SUFFIXES:
                return False
        return bool(names)

    def read(self, data: Sequence[PathLike] | PathLike, **kwargs: Any) -> Volume:
        """Scan the input (or load the index) and assemble the chosen series."""
        from dicomdecode.apps.index import is_index_file, load_index
        from dicomdecode.assemble import assemble_series
        from dicomdecode.scan import scan

        names = [os.fspath(data)] if isinstance(data, str | os.PathLike) \
            else [os.fspath(p) for p in data]
        if len(names) == 1 and os.path.isfile(names[0]) and is_index_file(names[0]):
            result = load_index(names[0])
        else:
            result = scan(names, storage_options=self.storage_options)
        if not result.series:
            reasons = "; ".join(f"{s.path}: {s.reason}" for s in result.skipped[:5])
            raise ValueError(f"no DICOM series in {names}" + (f" ({reasons})" if reasons else ""))
        chosen = self._choose(result.series, names)
        return assemble_series(chosen, Options.resolve(self.options, **kwargs))

    def _choose(self, series: list[Any], names: list[str]) -> Any:
        if self.series is None:
            if len(series) > 1:
                keys = [s.uid for s in series]
                raise ValueError(f"{names} hold {len(series)} series {keys}; pick one with "
                                 "DicomDecodeReader(series=<position or UID>)")
            return series[0]
        if isinstance(self.series, int):
            return series[self.series]
        for s in series:
            if self.series in (s.uid, s.series_uid):
                return s
        raise ValueError(f"series {self.series!r} not found in {names}")

    def get_data(self, img: Volume) -> tuple[np.ndarray, dict[str, Any]]:
        """Array in (col, row, slice[, channel]) order and MONAI's metadata keys."""
        array = np.ascontiguousarray(nifti_data(img))
        affine = nifti_affine(img.affine)
        spatial = array.shape[:3]
        meta: dict[str, Any] = {
            "affine": affine,
            "original_affine": affine.copy(),
            "spatial_shape": np.asarray(spatial),
            "original_channel_dim": -1 if array.ndim > 3 else float("nan"),
            "space": "RAS",
            "spacing": np.sqrt((affine[:3, :3] ** 2).sum(axis=0)),
        }
        if array.ndim > 4:  # 4D and colour: fold volumes and samples into one channel axis
            array = array.reshape(*spatial, -1)
        for key in ("Modality", "SeriesInstanceUID", "SeriesDescription", "Manufacturer",
                    "RescaleConvention", "dtype"):
            value = img.meta.get(key)
            if isinstance(value, str | int | float):
                meta[key] = value
        return array, meta


__all__ = ["DicomDecodeReader"]
