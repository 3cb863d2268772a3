"""Quick-look image: three orthogonal mid-slices per series, one series per row.

Each panel is drawn into a square cell of ``cell`` pixels, scaled so one screen pixel covers
the same millimetres along both of its axes (aspect from the voxel spacing), centred on a
black background. Grey levels: a CT soft-tissue window (level 40, width 400 HU) when the
volume is CT in Hounsfield units, else the 1st-99th percentile; MONOCHROME1 is inverted for
display; colour images are shown as they are. Each row is labelled with the series number
and description and the window (C/W), each panel with the patient direction of its four
edges (from the affine), so a flipped or mislabelled series shows at a glance. Pillow
(``pip install "dicomdecode[preview]"``) draws the text and writes the file in the format
its suffix names (.png, .jpg, .tiff, ...).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.options import HandlerChoice, Options
from dicomdecode.writers import atomic_path

if TYPE_CHECKING:
    from dicomdecode.volume import Volume

CELL = 256
GAP = 4
CT_WINDOW = (40.0, 400.0)  # soft tissue: level, width (HU)


PILLOW_HINT = 'preview needs Pillow: pip install "dicomdecode[preview]"'


def _pillow() -> Any:
    """The PIL package, or ImportError saying how to install it."""
    try:
        import PIL.Image
        import PIL.ImageDraw
        import PIL.ImageFont
    except ImportError as exc:
        raise ImportError(PILLOW_HINT) from exc
    return PIL


def image_format(out: str | os.PathLike[str]) -> str:
    """The Pillow format that ``out``'s suffix names (``PNG`` for ``.png``, ``JPEG`` for
    ``.jpg``...); ValueError for a suffix Pillow cannot write, so a ``.jpg`` name never
    gets PNG bytes."""
    pil = _pillow()
    suffix = Path(out).suffix.lower()
    fmt = pil.Image.registered_extensions().get(suffix)
    if not suffix or fmt is None or fmt not in pil.Image.SAVE:
        raise ValueError(f"{os.fspath(out)}: no image format for the suffix "
                         f"{suffix or '(none)'!r}; use .png, .jpg or .tiff")
    return str(fmt)


#: LPS axis -> letter of its positive and negative direction
_LETTERS = (("L", "R"), ("P", "A"), ("S", "I"))


def direction_letter(vector: Sequence[float] | np.ndarray) -> str:
    """The patient direction (L/R, P/A, S/I) a voxel axis points to in LPS: the dominant
    component's letter, and the next one's when the axis is oblique (over 0.3)."""
    v = np.asarray(vector, dtype=float)[:3]
    norm = float(np.linalg.norm(v))
    if norm == 0:
        return "?"
    v = v / norm
    order = np.argsort(-np.abs(v))
    letters = [_LETTERS[i][0 if v[i] > 0 else 1] for i in order[:2]
               if i == order[0] or abs(v[i]) > 0.3]
    return "".join(letters)


def edge_letters(volume: Volume) -> list[tuple[str, str, str, str]]:
    """(top, bottom, left, right) patient directions of the three panels of `volume`, in
    the orientation :func:`panels` draws them."""
    axes = np.asarray(volume.affine, dtype=float)[:3, :3]
    slice_dir, row_dir, col_dir = axes[:, 0], axes[:, 1], axes[:, 2]
    down = -slice_dir if float(axes[2, 0]) > 0 else slice_dir  # reformats: head up

    def edges(vertical: np.ndarray, horizontal: np.ndarray) -> tuple[str, str, str, str]:
        return (direction_letter(-vertical), direction_letter(vertical),
                direction_letter(-horizontal), direction_letter(horizontal))

    return [edges(row_dir, col_dir), edges(down, col_dir), edges(down, row_dir)]


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


def _is_colour(arr: np.ndarray, volume: Volume) -> bool:
    samples = int((volume.meta or {}).get("SamplesPerPixel", 1) or 1)
    return arr.ndim == 4 or (arr.dtype == np.uint8 and samples > 1)


def window_bounds(arr: np.ndarray, volume: Volume) -> tuple[float, float] | None:
    """The (low, high) values mapped to black and white: CT soft tissue in HU, else the
    1st-99th percentile; None for colour images (shown as stored) or no finite value."""
    if _is_colour(arr, volume):
        return None
    data = np.asarray(arr, dtype=np.float64)
    meta = volume.meta or {}
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return None
    if str(meta.get("Modality", "")).upper() == "CT" and meta.get("Rescale") is not False:
        level, width = CT_WINDOW
        return level - width / 2, level + width / 2
    lo, hi = (float(v) for v in np.percentile(finite, [1, 99]))
    if hi <= lo:
        lo, hi = float(finite.min()), float(finite.max())
    return lo, hi


def window(arr: np.ndarray, volume: Volume) -> np.ndarray:
    """Map values to uint8 for display (CT soft tissue in HU, else percentiles)."""
    data = np.asarray(arr, dtype=np.float64)
    meta = volume.meta or {}
    if _is_colour(arr, volume):
        return np.clip(data, 0, 255).astype(np.uint8)
    bounds = window_bounds(arr, volume)
    if bounds is None:
        return np.zeros(data.shape, np.uint8)
    lo, hi = bounds
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


def _label(volume: Volume) -> str:
    """"#<series number> <description>   C <centre> W <width>" for one row."""
    meta = volume.meta or {}
    number, text = meta.get("SeriesNumber"), str(meta.get("SeriesDescription") or "")
    head = " ".join(p for p in (f"#{number}" if number not in (None, "") else "", text) if p)
    bounds = window_bounds(_first_volume(volume), volume)
    if bounds is not None:
        lo, hi = bounds
        head = f"{head}   C {(lo + hi) / 2:.6g} W {hi - lo:.6g}".strip()
    return head or str(meta.get("SeriesUID", ""))


def annotate(image: np.ndarray, volumes: Sequence[Volume], cell: int = CELL,
             gap: int = GAP) -> Any:
    """``image`` (from :func:`render`) as a Pillow image with each row's label and each
    panel's edge letters drawn on it (Pillow's default font, white on a dark shadow)."""
    pil = _pillow()
    img = pil.Image.fromarray(image, "RGB")
    draw = pil.ImageDraw.Draw(img)
    font = pil.ImageFont.load_default()

    def text(x: float, y: float, s: str, anchor: str) -> None:
        draw.text((x + 1, y + 1), s, fill=(0, 0, 0), font=font, anchor=anchor)
        draw.text((x, y), s, fill=(255, 255, 0), font=font, anchor=anchor)

    for i, vol in enumerate(volumes):
        top = gap + i * (cell + gap)
        text(gap + 3, top + 3, _label(vol), "la")
        for j, (up, down, left, right) in enumerate(edge_letters(vol)):
            x0 = gap + j * (cell + gap)
            mid_x, mid_y = x0 + cell / 2, top + cell / 2
            text(mid_x, top + 16 if j == 0 else top + 3, up, "ma")
            text(mid_x, top + cell - 3, down, "md")
            text(x0 + 3, mid_y, left, "lm")
            text(x0 + cell - 3, mid_y, right, "rm")
    return img


#: below this panel size, text would hide the image: panels are drawn unlabelled
MIN_LABELLED_CELL = 96


def write_preview(volumes: Sequence[Volume], out: str | os.PathLike[str], *,
                  cell: int = CELL, labels: bool = True) -> Path:
    """Render ``volumes``, label them (unless ``labels=False`` or the panels are smaller
    than :data:`MIN_LABELLED_CELL`) and write the image atomically to ``out``, in the
    format its suffix names."""
    final = Path(out)
    fmt = image_format(final)
    rendered = render(volumes, cell)
    if labels and cell >= MIN_LABELLED_CELL:
        img = annotate(rendered, volumes, cell)
    else:
        img = _pillow().Image.fromarray(rendered, "RGB")
    with atomic_path(final) as tmp:
        img.save(tmp, format=fmt)
    return final


def preview(src: str | os.PathLike[str], out: str | os.PathLike[str], *, cell: int = CELL,
            max_series: int = 16, handlers: HandlerChoice = None,
            options: Options | None = None) -> tuple[Path, list[str]]:
    """Scan ``src``, load up to ``max_series`` series, write the image.

    Returns the image path and the problems met (series that failed to load are left out).
    Raises FileNotFoundError for a missing ``src``, ValueError for a bad option or an
    ``out`` suffix that names no image format, ImportError (with the pip command) without
    Pillow.
    """
    from dicomdecode.api import as_path_list, iter_volumes
    from dicomdecode.scan import ScanResult, scan

    image_format(out)  # before any work: a wrong name is the user's to fix first
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


__all__ = ["preview", "write_preview", "render", "annotate", "panels", "window",
           "window_bounds", "image_format", "direction_letter", "edge_letters"]
