"""convert runs a single series in its own process when every codec it needs is safe there.

The in-process run (no worker pool, codecs limited to handlers that release the GIL and
cannot abort) must write the same NIfTI as dcm2niix, read back by nibabel and by Python's
``gzip``; a run that does not convert cleanly is redone in the isolating pool with every
handler.
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from dicomdecode.apps import convert as conv
from dicomdecode.decode.handlers import HANDLERS
from dicomdecode.engine import parallel
from dicomdecode.options import Options
from dicomdecode.scan import scan

# the in-process road is for codecs that release the GIL and cannot abort: imagecodecs
# decodes the compressed slices of this series there (reduced installs deselect the module)
pytestmark = pytest.mark.needs_handler("imagecodecs")

DATA = Path(__file__).resolve().parents[1] / "test_data"
SERIES = DATA / "series" / "A_mixed"  # 12 CT slices: RLE, JPEG-LS, J2K, explicit, in turn


def _dcm2niix() -> str:
    exe = shutil.which("dcm2niix")
    if exe is None:
        try:
            import dcm2niix  # the pip package ships the binary

            exe = str(Path(dcm2niix.bin))
        except (ImportError, AttributeError):
            pytest.fail("dcm2niix is not installed (pip install dcm2niix, in the test extra)")
    return exe


def _reference(tmp_path: Path) -> nib.Nifti1Image:
    out = tmp_path / "dcm2niix"
    out.mkdir()
    subprocess.run([_dcm2niix(), "-z", "n", "-b", "n", "-o", str(out), str(SERIES)],
                   check=True, capture_output=True, timeout=300)
    (image,) = sorted(out.glob("*.nii"))
    return nib.as_closest_canonical(nib.load(image))


def _assert_equals_reference(image: Path, ref: nib.Nifti1Image) -> None:
    ours = nib.as_closest_canonical(nib.load(image))
    np.testing.assert_allclose(ours.affine, ref.affine, atol=1e-3)
    np.testing.assert_array_equal(ours.get_fdata(), ref.get_fdata())
    if image.name.endswith(".gz"):  # a standard gzip stream: the stdlib reads it whole
        raw = nib.load(image)
        with gzip.open(image, "rb") as fh:
            data = fh.read()
        voxels = np.frombuffer(data, raw.header.get_data_dtype(),
                               offset=raw.dataobj.offset)
        np.testing.assert_array_equal(voxels.reshape(raw.shape, order="F"),
                                      raw.dataobj.get_unscaled())


def _task(dst: Path, workers: int = 2) -> tuple:
    (series,) = scan(SERIES, workers=1).series
    options = dataclasses.replace(Options.resolve(None), workers=workers)
    opts = conv.JobSettings(options=options, fmt="nifti", dst=str(dst))
    return conv._convert_series, (series, str(dst / "one"), "nifti", opts), len(series.files)


def test_a_series_of_four_syntaxes_runs_here_with_only_safe_handlers(tmp_path: Path) -> None:
    task = _task(tmp_path)
    solo = conv._in_process([task], parallel)
    assert solo is not None and solo[1][:3] == task[1][:3]
    handlers = solo[1][3].options.handlers
    assert handlers and all(HANDLERS[name].releases_gil and not HANDLERS[name].may_abort
                            for name in handlers)
    assert conv._in_process([task, task], parallel) is None  # series side by side: the pool
    assert conv._in_process([task], object()) is None  # a Dask cluster places its own work


def test_in_process_convert_equals_dcm2niix(tmp_path: Path) -> None:
    ref = _reference(tmp_path)
    report = conv.convert(SERIES, tmp_path / "out", progress=False)
    assert report.counts == {"converted": 12, "kept": 0, "skipped": 0, "failed": 0}
    (image,) = sorted((tmp_path / "out").glob("*.nii.gz"))
    _assert_equals_reference(image, ref)


def test_a_failed_in_process_run_is_redone_in_the_pool(tmp_path: Path) -> None:
    """Whatever goes wrong in the restricted in-process run, the pool run with every
    handler decides the outcome, and the file it writes is dcm2niix's image."""
    ref = _reference(tmp_path)
    task = _task(tmp_path / "out")

    def broken(*_args: object) -> conv.SeriesOutcome:
        raise RuntimeError("no safe handler decoded it")

    ticks: list[int] = []
    (outcome,) = list(conv._solo_or_pool((broken, ()), [task], 2, ticks.append))
    assert outcome.status == conv.CONVERTED and ticks == [12]
    _assert_equals_reference(Path(outcome.outputs[0]), ref)


def test_which_outcomes_are_redone() -> None:
    ok = conv.SeriesOutcome(name="a", uid="1", files=["x", "y"])
    assert not conv._needs_pool(ok)
    unused = dataclasses.replace(ok, file_failures={"y": "not used in the volume"})
    assert not conv._needs_pool(unused)
    undecoded = dataclasses.replace(ok, file_failures={"y": "imagecodecs: bad stream"})
    assert conv._needs_pool(undecoded)
    exists = dataclasses.replace(ok, status=conv.FAILED,
                                 reason=f"{conv.OUTPUT_EXISTS}: /out/a.nii.gz")
    assert not conv._needs_pool(exists)
    assert conv._needs_pool(dataclasses.replace(ok, status=conv.FAILED, reason="boom"))
    assert conv._needs_pool(RuntimeError("boom"))
