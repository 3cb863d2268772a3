"""Frames split from encapsulated Pixel Data by our reader equal pydicom's
generate_frames on every compressed file of the corpus and of pydicom's test files."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames

from dicomdecode.read.frames import _split_frames
from dicomdecode.read.header import read_fast_header

from .conftest import corpus_path


def test_frames_equal_pydicom_generate_frames():
    roots = [Path(get_testdata_file("CT_small.dcm")).parent, corpus_path()]
    compared = 0
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    header = read_fast_header(path)
                except OSError:
                    continue
                if header is None or not header.pixel_encapsulated:
                    continue
                with open(path, "rb") as fh:
                    fh.seek(header.pixel_offset + 12)
                    value = fh.read()
                count = int(header.get("NumberOfFrames") or 1)
                ours = _split_frames(value, count)
                if ours is None:
                    continue  # ambiguous layout: the reader hands it to pydicom itself
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs = [bytes(f) for f in generate_frames(value, number_of_frames=count)]
                assert ours == theirs, path
                compared += 1
    assert compared >= 15
