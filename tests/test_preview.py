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
    out = write_preview([_volume(arr, (4.0, 0.5, 1.0))], tmp_path / "a.png", labels=False)
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


# --------------------------------------------------------------------------- labels, formats


def _lps_codes(affine: np.ndarray) -> tuple[str, ...]:
    """nibabel's patient direction of each voxel axis, for an LPS affine (the reference)."""
    import nibabel.orientations as nio

    return tuple(nio.aff2axcodes(affine, labels=(("R", "L"), ("A", "P"), ("I", "S"))))


@pytest.mark.parametrize("angle", [0.0, 20.0, 135.0])
def test_edge_letters_follow_the_affine(angle: float) -> None:
    from dicomdecode.apps.preview import direction_letter, edge_letters

    t = np.radians(angle)
    rot = np.array([[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]])
    axes = rot @ np.array([[0.0, 0, 1], [0, 1, 0], [1, 0, 0]])  # slice S, row P, col L
    affine = np.eye(4)
    affine[:3, :3] = axes @ np.diag([3.0, 0.8, 0.8])
    codes = _lps_codes(affine)
    assert tuple(direction_letter(affine[:3, i])[0] for i in range(3)) == codes
    vol = Volume(array=np.zeros((4, 5, 6), np.int16), affine=affine, meta={})
    axial, coronal, sagittal = edge_letters(vol)
    opposite = {"L": "R", "R": "L", "A": "P", "P": "A", "S": "I", "I": "S"}
    # the acquired plane: rows run down the image, columns to the right
    assert axial[1][0] == codes[1] and axial[3][0] == codes[2]
    assert axial[0][0] == opposite[codes[1]] and axial[2][0] == opposite[codes[2]]
    assert coronal[3][0] == codes[2] and sagittal[3][0] == codes[1]


def test_labels_drawn_on_the_image(tmp_path: Path) -> None:
    series = [_volume(np.zeros((8, 64, 64), np.int16), (1.0, 1.0, 1.0), SeriesNumber=7,
                      SeriesDescription="T1 axial", Modality="MR")]
    plain = np.asarray(Image.open(write_preview(series, tmp_path / "a.png", labels=False)))
    labelled = np.asarray(Image.open(write_preview(series, tmp_path / "b.png")))
    diff = np.any(plain != labelled, axis=2)
    top, left = GAP, GAP
    assert diff[top:top + 14, left:left + CELL // 2].any(), "no series label"
    mid = top + CELL // 2
    for j in range(3):  # a letter at the middle of each panel's left and right edge
        x0 = GAP + j * (CELL + GAP)
        assert diff[mid - 6:mid + 6, x0:x0 + 12].any()
        assert diff[mid - 6:mid + 6, x0 + CELL - 12:x0 + CELL].any()


def test_window_label_names_the_window_used() -> None:
    from dicomdecode.apps.preview import _label

    ct = _volume(np.zeros((2, 4, 4), np.int16), SeriesNumber=3, SeriesDescription="Head",
                 Modality="CT", Rescale="auto")
    assert _label(ct) == "#3 Head   C 40 W 400"
    ramp = np.arange(2 * 10 * 10, dtype=np.float32).reshape(2, 10, 10)
    lo, hi = np.percentile(ramp, [1, 99])
    text = _label(_volume(ramp, Modality="MR"))
    assert text == f"C {(lo + hi) / 2:.6g} W {hi - lo:.6g}"


@pytest.mark.parametrize(("name", "pil_format"), [("p.png", "PNG"), ("p.jpg", "JPEG"),
                                                  ("p.jpeg", "JPEG"), ("p.tif", "TIFF")])
def test_format_follows_the_suffix(tmp_path: Path, name: str, pil_format: str) -> None:
    out = write_preview([_volume(np.ones((3, 8, 8), np.int16))], tmp_path / name)
    assert Image.open(out).format == pil_format


def test_unknown_suffix_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["preview", "test_data/series", str(tmp_path / "p.xyz")]) == 2
    assert main(["preview", "test_data/series", str(tmp_path / "noext")]) == 2
    assert not list(tmp_path.iterdir())


def test_without_pillow_the_pip_command_is_given(tmp_path: Path) -> None:
    """An install without the [preview] extra: Pillow made unimportable for the command."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    (tmp_path / "PIL").mkdir()
    (tmp_path / "PIL" / "__init__.py").write_text('raise ImportError("not installed (test)")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    result = subprocess.run([sys.executable, "-m", "dicomdecode", "preview", "test_data/series",
                             str(tmp_path / "p.png")], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert 'pip install "dicomdecode[preview]"' in result.stderr
    assert not (tmp_path / "p.png").exists()
