"""Saved index: round trip equals a fresh scan, stale files are named, workers need no rescan."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dicomdecode.errors import StaleIndexError
from dicomdecode.index import build_index, is_index_file, load_index, main_index, read_index
from dicomdecode.scan import scan

from .test_ml import PHILIPS_FMRI, write_series

# These tests exercise the whole pipeline on compressed data too: they need every
# decoder. Reduced-install sessions (nox tests_minimal/_pylibjpeg/_gdcm) deselect them.
pytestmark = pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls")


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    write_series(tmp_path / "src" / "a", seed=3)
    write_series(tmp_path / "src" / "b", n=2, seed=4)
    index = tmp_path / "out" / "index.json"
    build_index(tmp_path / "src", index)
    return tmp_path / "src", index


def test_round_trip_equals_fresh_scan(built: tuple[Path, Path]) -> None:
    src, index = built
    fresh = scan(os.path.abspath(src))
    loaded = load_index(index)
    assert loaded.to_dict() == fresh.to_dict()
    assert len(loaded.series) == 2


def test_index_records_every_series_file_with_stamp(built: tuple[Path, Path]) -> None:
    src, index = built
    payload = json.loads(index.read_text())
    files = sorted(os.fspath(p) for p in src.rglob("*.dcm"))
    assert sorted(payload["files"]) == files
    for path, (size, mtime_ns) in payload["files"].items():
        st = os.stat(path)
        assert (size, mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert is_index_file(index)
    assert not is_index_file(files[0])


def test_paths_are_absolute_and_work_from_elsewhere(built: tuple[Path, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, index = built
    monkeypatch.chdir(tmp_path / "out")
    loaded = load_index("index.json")
    assert all(os.path.isabs(im.path) for s in loaded.series for im in s.images)


def test_changed_file_is_named(built: tuple[Path, Path]) -> None:
    src, index = built
    victim = sorted(src.rglob("*.dcm"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[:-2] + b"\x01\x02")  # same size, new mtime
    os.utime(victim, ns=(1, 1))
    with pytest.raises(StaleIndexError, match="changed since the index was built") as err:
        load_index(index)
    assert err.value.path == os.fspath(victim)
    assert os.fspath(victim) in str(err.value)


def test_missing_file_is_named(built: tuple[Path, Path]) -> None:
    src, index = built
    victim = sorted(src.rglob("*.dcm"))[-1]
    victim.unlink()
    with pytest.raises(StaleIndexError, match="missing") as err:
        load_index(index)
    assert err.value.path == os.fspath(victim)
    # verify=False still loads (the caller chose to skip the check)
    assert len(load_index(index, verify=False).series) == 2


def test_not_an_index(tmp_path: Path) -> None:
    bogus = tmp_path / "x.json"
    bogus.write_text('{"series": []}')
    with pytest.raises(StaleIndexError, match="not a dicomdecode index"):
        read_index(bogus)
    garbage = tmp_path / "y.json"
    garbage.write_text("{not json")
    with pytest.raises(StaleIndexError, match="cannot read index"):
        read_index(garbage)


def test_main_index_exit_code_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    write_series(tmp_path / "s", n=3)
    out = tmp_path / "i.json"
    assert main_index(tmp_path / "s", out) == 0
    assert "1 series, 3 images" in capsys.readouterr().out
    assert len(load_index(out).series) == 1


def test_corpus_index_round_trip(corpus: Path, tmp_path: Path) -> None:
    src = tmp_path / "fmri"
    shutil.copytree(corpus / PHILIPS_FMRI, src)
    index = tmp_path / "fmri.json"
    result = build_index(src, index)
    assert load_index(index).to_dict() == result.to_dict() == scan(os.fspath(src)).to_dict()
    assert sum(len(s.images) for s in result.series) == 27
