"""Quick-look PNG: three orthogonal mid-slices per series, one series per row.

Each panel is drawn into a square cell of ``cell`` pixels, scaled so one screen pixel covers
the same millimetres along both of its axes (aspect from the voxel spacing), centred on a
black background. Grey levels: a CT soft-tissue window (level 40, width 400 HU) when the
volume is CT in Hounsfield units, else the 1st-99th percentile; MONOCHROME1 is inverted for
display; colour images are shown as they are. The PNG is written with zlib (no pillow or
matplotlib needed).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dicomdecode.options import HandlerChoice, Options
from dicomdecode.writers import atomic_path

if TYPE_CHECKING:
    from dicomdecode.volume import Volume

CELL = 256
GAP = 4
CT_WINDOW = (40.0, 400.0)  # soft tissue: level, width (HU)


def png_bytes(image: np.ndarray) -> bytes:
    """Encode a uint8 (H, W) grey or (H, W, 3) RGB array as PNG."""
    img = np.ascontiguousarray(image, dtype=np.uint8)
    h, w = img.shape[:2]
    colour = 2 if img.ndim == 3 else 0
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def _first_volume(volume: Volume) -> np.ndarray:
    """(slices, rows, cols[, 3]) of the first time point of a 4D volume."""
    arr = np.asarray(volume.array)
    samples = int((volume.meta or {}).get("SamplesPerPixel", 1) or 1)
    spatial = 4 if samples > 1 else 3
    while arr.ndim > spatial:
        arr = arr[0]
    if arr.ndim == spatial - 1:  # a single 2D image
        arr = arr[None]
    return arr


def window(arr: np.ndarray, volume: Volume) -> np.ndarray:
    """Map values to uint8 for display (CT soft tissue in HU, else percentiles)."""
    data = np.asarray(arr, dtype=np.float64)
    meta = volume.meta or {}
    if data.ndim == 4 or (arr.dtype == np.uint8 and int(meta.get("SamplesPerPixel", 1) or 1) > 1):
        return np.clip(data, 0, 255).astype(np.uint8)
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return np.zeros(data.shape, np.uint8)
    in_hu = str(meta.get("Modality", "")).upper() == "CT" and meta.get("Rescale") is not False
    if in_hu:
        level, width = CT_WINDOW
        lo, hi = level - width / 2, level + width / 2
    else:
        lo, hi = np.percentile(finite, [1, 99])
        if hi <= lo:
            lo, hi = float(finite.min()), float(finite.max())
    scaled = (np.nan_to_num(data, nan=lo) - lo) / max(hi - lo, 1e-12)
    out = (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)
    if str(meta.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        out = 255 - out
    return out


def _fit(panel: np.ndarray, row_mm: float, col_mm: float, cell: int) -> np.ndarray:
    """Nearest-neighbour resample ``panel`` into a ``cell`` square with true aspect."""
    h, w = panel.shape[:2]
    height_mm, width_mm = h * max(row_mm, 1e-6), w * max(col_mm, 1e-6)
    scale = cell / max(height_mm, width_mm)
    out_h = max(1, min(cell, round(height_mm * scale)))
    out_w = max(1, min(cell, round(width_mm * scale)))
    rows = np.minimum((np.arange(out_h) * h / out_h).astype(int), h - 1)
    cols = np.minimum((np.arange(out_w) * w / out_w).astype(int), w - 1)
    resized = panel[rows][:, cols]
    canvas = np.zeros((cell, cell) + panel.shape[2:], np.uint8)
    top, left = (cell - out_h) // 2, (cell - out_w) // 2
    canvas[top:top + out_h, left:left + out_w] = resized
    return canvas


def panels(volume: Volume, cell: int = CELL) -> list[np.ndarray]:
    """The three mid-slices (along slice, row and column axes) as ``cell``-square images.

    Order: the acquired plane (fixed slice), then fixed row, then fixed column; in the
    last two the slice axis is vertical, superior at the top where the affine says which
    way that is.
    """
    arr = _first_volume(volume)
    ds, dr, dc = volume.spacing
    n, r, c = arr.shape[:3]
    grey = window(arr, volume)
    # reformatted planes: put the patient's head up when the slice axis runs inferior ->
    # superior (LPS z grows with the slice index), as viewers do
    up = float(np.asarray(volume.affine)[2, 0]) > 0
    cor, sag = grey[:, r // 2], grey[:, :, c // 2]
    planes = [
        (grey[n // 2], dr, dc),
        (cor[::-1] if up else cor, ds, dc),
        (sag[::-1] if up else sag, ds, dr),
    ]
    return [_fit(p, a, b, cell) for p, a, b in planes]


def render(volumes: Sequence[Volume], cell: int = CELL, gap: int = GAP) -> np.ndarray:
    """One RGB image: a row of three panels per volume, ``gap`` pixels of grey between."""
    if not volumes:
        raise ValueError("nothing to preview: no image series")
    height = len(volumes) * cell + (len(volumes) + 1) * gap
    width = 3 * cell + 4 * gap
    canvas = np.full((height, width, 3), 64, np.uint8)
    for i, vol in enumerate(volumes):
        top = gap + i * (cell + gap)
        for j, panel in enumerate(panels(vol, cell)):
            left = gap + j * (cell + gap)
            rgb = panel if panel.ndim == 3 else np.repeat(panel[..., None], 3, axis=2)
            canvas[top:top + cell, left:left + cell] = rgb[..., :3]
    return canvas


def write_preview(volumes: Sequence[Volume], out: str | os.PathLike[str], *,
                  cell: int = CELL) -> Path:
    """Render ``volumes`` and write the PNG atomically to ``out``."""
    final = Path(out)
    with atomic_path(final) as tmp:
        tmp.write_bytes(png_bytes(render(volumes, cell)))
    return final


def preview(src: str | os.PathLike[str], out: str | os.PathLike[str], *, cell: int = CELL,
            max_series: int = 16, handlers: HandlerChoice = None,
            options: Options | None = None) -> tuple[Path, list[str]]:
    """Scan ``src``, load up to ``max_series`` series, write the PNG.

    Returns the PNG path and the problems met (series that failed to load are left out).
    Raises FileNotFoundError for a missing ``src`` and ValueError for a bad option.
    """
    from dicomdecode.api import as_path_list, iter_volumes
    from dicomdecode.scan import ScanResult, scan

    opts = Options.resolve(options, handlers=handlers)
    result = scan(as_path_list(src), workers=opts.workers)
    problems: list[str] = []
    if len(result.series) > max_series:
        problems.append(f"only the first {max_series} series are shown")
    shown = ScanResult(series=result.series[:max_series], skipped=result.skipped)
    volumes: list[Volume] = []
    for outcome in iter_volumes(shown, opts):
        if outcome.volume is not None:
            volumes.append(outcome.volume)
        else:
            problems.append(f"series {outcome.series.uid}: {outcome.error}")
    return write_preview(volumes, out, cell=cell), problems


__all__ = ["preview", "write_preview", "render", "panels", "png_bytes", "window"]
