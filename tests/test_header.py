"""The fast header view (dicomdecode.read.header) gives the same scan records as pydicom.

Compared on every real file of the corpus and of pydicom's shipped test files that the
fast view accepts: the image records (geometry, pixel description, rescale) and the
series metadata must equal what the pydicom-based reader produces."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from .conftest import corpus_path

scan_walk = importlib.import_module("dicomdecode.scan.walk")


def _files() -> list[str]:
    roots = [Path(get_testdata_file("CT_small.dcm")).parent, corpus_path()]
    out = []
    for root in roots:
        if root.is_dir():
            for folder, _, names in os.walk(root):
                out.extend(os.path.join(folder, n) for n in sorted(names)
                           if not n.endswith((".tsv", ".md", ".json", ".nii", ".gz", ".txt",
                                              ".bval", ".bvec", ".csv")))
    return sorted(out)


def _normalise(meta: dict) -> dict:
    """pydicom keeps padding inside multi-valued strings ('DERIVED '); the view strips it."""
    def clean(v):
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v.strip() if isinstance(v, str) else v
    return {k: clean(v) for k, v in meta.items()}


def test_fast_view_matches_pydicom_records():
    compared = 0
    for path in _files():
        fast = scan_walk.fast_header(path)
        if fast is None:
            continue
        try:
            ours = scan_walk.records_from(fast, path)
        except scan_walk.NeedsFullParse:
            continue
        header = scan_walk.read_header(path)
        if isinstance(header, scan_walk.Skip) or len(header) == 0:
            # pydicom cannot read it (a truncated file reads as an empty dataset): the
            # view lists the image and its decode fails later with a typed error
            continue
        theirs = scan_walk.records_from(header, path)
        assert (ours[1] is None) == (theirs[1] is None), path
        assert [r[0] for r in ours[0]] == [r[0] for r in theirs[0]], path
        assert [r[1:3] for r in ours[0]] == [r[1:3] for r in theirs[0]], path
        assert [_normalise(r[3]) for r in ours[0]] == [_normalise(r[3]) for r in theirs[0]], path
        compared += 1
    assert compared >= 20  # pydicom's own files alone give more than that


@pytest.mark.parametrize("name", ["image_dfl.dcm", "no_meta.dcm"])
def test_fast_view_declines_what_it_does_not_cover(name):
    from dicomdecode.read.header import read_fast_header

    assert read_fast_header(get_testdata_file(name)) is None


def test_builtin_keyword_table_matches_pydicom_dictionary():
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    from dicomdecode.read.header import _KEYWORDS

    for keyword, (tag, vr) in _KEYWORDS.items():
        assert tag_for_keyword(keyword) == tag, keyword
        assert dictionary_VR(tag) == vr, keyword


def test_scanning_plain_files_does_not_import_pydicom(tmp_path):
    """The point of the fast view: a native series scans and loads without pydicom."""
    import shutil
    import subprocess
    import sys

    from .conftest import ROOT

    for path in (ROOT / "test_data" / "series").glob("A_*.dcm"):  # uncompressed series A
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "notes.txt").write_text("not DICOM")
    code = ("import sys, dicomdecode; v = dicomdecode.load(sys.argv[1], workers=1); "
            "print(len(v), v[0].array.shape[0], 'pydicom' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["1", "12", "False"]
