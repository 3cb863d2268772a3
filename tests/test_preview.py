"""Preview PNGs, read back with pillow: layout, aspect from spacing, windowing, not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dicomdecode.apps.cli import main
from dicomdecode.apps.preview import CELL, GAP, write_preview
from dicomdecode.volume import Volume

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")

Image = pytest.importorskip("PIL.Image")


def _volume(arr: np.ndarray, spacing=(1.0, 1.0, 1.0), **meta: object) -> Volume:
    affine = np.diag([*spacing, 1.0])
    return Volume(array=arr, affine=affine, meta={"SamplesPerPixel": 1, **meta})


def _cells(img: np.ndarray, n_rows: int, cell: int = CELL, gap: int = GAP) -> list[np.ndarray]:
    out = []
    for i in range(n_rows):
        for j in range(3):
            top, left = gap + i * (cell + gap), gap + j * (cell + gap)
            out.append(img[top:top + cell, left:left + cell])
    return out


def test_layout_and_not_blank(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    vols = [_volume(rng.integers(100, 200, (10, 20, 30)).astype(np.int16)),
            _volume(rng.integers(0, 4000, (2, 6, 40, 50)).astype(np.uint16), (2.0, 1.0, 1.0))]
    out = write_preview(vols, tmp_path / "p.png")
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (2 * CELL + 3 * GAP, 3 * CELL + 4 * GAP, 3)
    for cell in _cells(img, 2):
        assert cell.std() > 5, "a panel is blank"
    # the gaps are the grey background
    assert (img[:GAP] == 64).all() and (img[:, :GAP] == 64).all()


def _extent(cell: np.ndarray) -> tuple[int, int]:
    grey = cell[..., 0] if cell.ndim == 3 else cell
    rows = np.flatnonzero(grey.max(axis=1) > 0)
    cols = np.flatnonzero(grey.max(axis=0) > 0)
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


def test_aspect_follows_spacing(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    arr = rng.integers(100, 200, (16, 64, 64)).astype(np.int16)
    # 16 slices of 4 mm = 64 mm; rows 64 x 0.5 mm = 32 mm; cols 64 x 1 mm = 64 mm
    out = write_preview([_volume(arr, (4.0, 0.5, 1.0))], tmp_path / "a.png")
    cells = _cells(np.asarray(Image.open(out).convert("RGB")), 1)
    h, w = _extent(cells[0])  # rows x cols: 32 mm x 64 mm
    assert w == CELL and abs(h - CELL / 2) <= 2
    h, w = _extent(cells[1])  # slices x cols: 64 mm x 64 mm
    assert abs(h - w) <= 2
    h, w = _extent(cells[2])  # slices x rows: 64 mm x 32 mm
    assert h == CELL and abs(w - CELL / 2) <= 2


def test_ct_soft_tissue_window(tmp_path: Path) -> None:
    arr = np.full((3, 8, 8), 40, np.int16)  # soft tissue: the window's level
    arr[:, :, :2] = -1000  # air: black
    arr[:, :, -2:] = 1000  # bone: white
    out = write_preview([_volume(arr, Modality="CT", Rescale="auto")], tmp_path / "ct.png",
                        cell=8)
    img = np.asarray(Image.open(out).convert("L"))
    axial = img[GAP:GAP + 8, GAP:GAP + 8]
    assert axial[4, 0] == 0 and axial[4, 7] == 255 and abs(int(axial[4, 4]) - 128) <= 1


def test_cli_preview_corpus(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "dcm_qa_nih/In/20180918Si"  # four Siemens mosaic series
    out = tmp_path / "si.png"
    assert main(["preview", str(src), str(out)]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (4 * CELL + 5 * GAP, 3 * CELL + 4 * GAP, 3)
    for cell in _cells(img, 4):
        assert cell.std() > 5
    assert main(["preview", str(tmp_path / "nothing"), str(out)]) == 2
