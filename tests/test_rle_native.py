"""The built-in RLE Lossless decoder (dicomdecode.read.rlecore, handler "native").

Witnesses, never the decoder itself: the original arrays of frames encoded here (a small
PackBits encoder, checked by pydicom's decoder), the uncompressed reference of every RLE
file in test_data/ (no codec library needed: the interpreted, library-free install decodes
RLE with this decoder alone), and three independent decoders on real files (imagecodecs'
``dicomrle_decode``, pylibjpeg-rle, pydicom's pure-Python decoder). The
interpreted run of the same source (loaded from the .py file) must agree with the
compiled one byte for byte, errors included. Hostile frames give a ValueError (a typed
error naming the file, through the handlers), never a crash or a write past the output.
"""

from __future__ import annotations

import csv
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.encaps import generate_frames
from pydicom.pixels.decoders.rle import _rle_decode_frame

import dicomdecode
from dicomdecode.errors import DicomDecodeError
from dicomdecode.read import rlecore
from dicomdecode.read import transfer_syntax as ts
from tests.conftest import corpus_params, corpus_path, interpreted_source

ROOT = Path(__file__).resolve().parent.parent
LITTLE = sys.byteorder == "little"




INTERPRETED = interpreted_source("dicomdecode/read/rlecore.py")
CORES = [pytest.param(rlecore, id="installed"), pytest.param(INTERPRETED, id="interpreted")]


def test_interpreted_copy_is_interpreted():
    assert INTERPRETED.COMPILED is False


def test_handler_order_follows_the_build():
    """Compiled: the built-in decoder first; interpreted: last, after every library."""
    order = ts.TRANSFER_SYNTAXES[ts.RLE_LOSSLESS].handlers
    assert (order[0] == "native") is rlecore.COMPILED
    assert (order[-1] == "native") is (not rlecore.COMPILED)
    from dicomdecode.apps.info import library_info

    assert library_info()["compiled_rle"] is rlecore.COMPILED


# ----------------------------------------------------------------- frames made here
def _frame(segments: list[bytes]) -> bytes:
    offsets, pos = [], 64
    for segment in segments:
        offsets.append(pos)
        pos += len(segment)
    return struct.pack("<16I", len(segments), *offsets, *[0] * (15 - len(segments))) \
        + b"".join(segments)


def _packbits(data: bytes) -> bytes:
    """PackBits (PS3.5 G.3.1): runs of 2..128 equal bytes, literals of 1..128 others."""
    out, i = bytearray(), 0
    while i < len(data):
        run = 1
        while i + run < len(data) and run < 128 and data[i + run] == data[i]:
            run += 1
        if run > 1:
            out += bytes([257 - run, data[i]])
            i += run
            continue
        j = i + 1
        while j < len(data) and j - i < 128 and not (j + 1 < len(data)
                                                     and data[j] == data[j + 1]):
            j += 1
        out += bytes([j - i - 1]) + data[i:j]
        i = j
    return bytes(out)


def _encode(array: np.ndarray) -> bytes:
    """(pixels, samples) unsigned values -> an RLE frame: per sample, its bytes MSB first."""
    width = array.dtype.itemsize
    big = array.astype(array.dtype.newbyteorder(">"))
    planes = big.view(np.uint8).reshape(array.shape[0], array.shape[1], width)
    return _frame([_packbits(planes[:, s, b].tobytes())
                   for s in range(array.shape[1]) for b in range(width)])


def _decode(core, frame: bytes, pixels: int, samples: int, width: int,
            planar: bool = False) -> np.ndarray:
    out = np.empty(pixels * samples, dtype=f"=u{width}")
    core.decode_frame_into(frame, out.view(np.uint8), pixels, samples, width, planar, LITTLE)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pixels=st.integers(1, 300), samples=st.sampled_from([1, 3]),
       width=st.sampled_from([1, 2, 4]), planar=st.booleans(), data=st.data())
def test_round_trip_against_the_array(pixels, samples, width, planar, data):
    """Random images (runs and noise) encoded here come back exactly, interleaved or
    planar, compiled and interpreted; pydicom's decoder agrees."""
    high = 2 ** (8 * width) - 1
    values = data.draw(st.lists(st.one_of(st.just(0), st.just(high), st.integers(0, high)),
                                min_size=pixels * samples, max_size=pixels * samples))
    array = np.array(values, dtype=f"=u{width}").reshape(pixels, samples)
    frame = _encode(array)
    expected = (array.T if planar else array).reshape(-1)
    for core in (rlecore, INTERPRETED):
        assert np.array_equal(_decode(core, frame, pixels, samples, width, planar), expected)
    planar_le = np.frombuffer(_rle_decode_frame(frame, 1, pixels, samples, 8 * width),
                              dtype=f"<u{width}")
    assert np.array_equal(planar_le, array.T.reshape(-1))


def test_packbits_rules():
    """Literal, run, the -128 no-op, a literal cut by its segment's end (pydicom keeps the
    bytes there are), and bytes past the plane (an encoder's pad) ignored."""
    segment = bytes([1, 7, 8, 0x80, 0xFE, 9, 2, 1, 2])  # 7 8 | no-op | 9 9 9 | 1 2 (cut)
    for core in (rlecore, INTERPRETED):
        assert _decode(core, _frame([segment]), 7, 1, 1).tolist() == [7, 8, 9, 9, 9, 1, 2]
        padded = _frame([bytes([0xFD, 5, 0, 6])])  # 4 x 5, then a pad byte
        assert _decode(core, padded, 4, 1, 1).tolist() == [5, 5, 5, 5]


# ----------------------------------------------------------------- hostile frames
def _good() -> bytes:
    return _encode(np.arange(64, dtype=np.uint16).reshape(64, 1))


def _with_header(frame: bytes, *words: int) -> bytes:
    return struct.pack(f"<{len(words)}I", *words) + frame[4 * len(words):]


HOSTILE = {
    "empty": b"",
    "header cut": _good()[:40],
    "0 segments": _with_header(_good(), 0),
    "16 segments": _with_header(_good(), 16),
    "wrong count": _with_header(_good(), 1),
    "offset in the header": _with_header(_good(), 2, 10),
    "offset past the end": _with_header(_good(), 2, 64, 10**6),
    "offset 2**32-1": _with_header(_good(), 2, 64, 2**32 - 1),
    "offsets decrease": _with_header(_good(), 2, 80, 70),
    "segment short": _frame([_packbits(bytes(60)), _packbits(bytes(64))]),
    "only no-ops": _frame([bytes([0x80] * 40), bytes([0x80] * 40)]),
    "run without its byte": _frame([bytes([0x81]), bytes([0x81])]),
    "data cut": _good()[:-20],
}


@pytest.mark.parametrize("core", CORES)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_frames_are_value_errors(core, name):
    with pytest.raises(ValueError, match="RLE"):
        _decode(core, HOSTILE[name], 64, 1, 2)


@pytest.mark.parametrize("core", CORES)
def test_output_size_checked(core):
    frame = _good()
    with pytest.raises(ValueError, match="output holds"):
        core.decode_frame_into(frame, np.empty(127, np.uint8), 64, 1, 2, False, LITTLE)
    with pytest.raises(ValueError):
        core.decode_frame_into(frame, np.empty(0, np.uint8), 0, 1, 2, False, LITTLE)


@settings(max_examples=300, deadline=None)
@given(base=st.sampled_from(sorted(HOSTILE) + ["good"]), data=st.data())
def test_garbled_frames_compiled_equals_interpreted(base, data):
    """Random bytes written over a frame (header included): the compiled and interpreted
    decoders give the same array, or the same ValueError; nothing else happens."""
    frame = bytearray(_good() if base == "good" else HOSTILE[base])
    for _ in range(data.draw(st.integers(0, 6))):
        if not frame:
            break
        at = data.draw(st.integers(0, len(frame) - 1))
        frame[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    frame = bytes(frame[:cut] if data.draw(st.booleans()) else frame)
    results = []
    for core in (rlecore, INTERPRETED):
        try:
            results.append(_decode(core, frame, 64, 1, 2).tobytes())
        except ValueError as exc:
            results.append(str(exc))
    assert results[0] == results[1]


# ----------------------------------------------------------------- real files
def _test_data_files() -> list[Path]:
    manifest = json.loads((ROOT / "test_data/MANIFEST.json").read_text())
    return [ROOT / "test_data" / row["name"] for row in manifest["files"]
            if row["transfer_syntax_uid"] == ts.RLE_LOSSLESS]


def _pydicom_files() -> list[Path]:
    from pydicom.data import get_testdata_file

    names = ["MR_small_RLE.dcm", "SC_rgb_rle.dcm", "SC_rgb_rle_2frame.dcm",
             "SC_rgb_rle_16bit.dcm", "SC_rgb_rle_16bit_2frame.dcm", "SC_rgb_rle_32bit.dcm",
             "SC_rgb_rle_32bit_2frame.dcm", "rtdose_rle.dcm", "rtdose_rle_1frame.dcm"]
    found = [get_testdata_file(name, download=False) for name in names]
    return [Path(path) for path in found if path]


def _references(frame: bytes, ds) -> dict[str, np.ndarray]:
    """One frame by the three independent decoders, as interleaved unsigned samples."""
    import imagecodecs
    from rle.utils import decode_pixel_data

    rows, cols, spp, bits = ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated
    width = bits // 8

    def interleave(planar: bytes | np.ndarray) -> np.ndarray:
        flat = np.frombuffer(bytes(planar), dtype=f"<u{width}")
        return flat.reshape(spp, rows * cols).T.reshape(-1)

    return {
        "imagecodecs": interleave(imagecodecs.dicomrle_decode(frame, f"<u{width}")),
        "pylibjpeg-rle": interleave(decode_pixel_data(frame, version=2, rows=rows,
                                                      columns=cols, samples_per_pixel=spp,
                                                      bits_allocated=bits)),
        "pydicom": interleave(_rle_decode_frame(frame, rows, cols, spp, bits)),
    }


def _check_file(path: Path, interpreted_max_pixels: int = 100 * 100) -> None:
    ds = pydicom.dcmread(path)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames") or 1)))
    width = ds.BitsAllocated // 8
    pixels = ds.Rows * ds.Columns
    for frame in frames:
        ours = _decode(rlecore, frame, pixels, ds.SamplesPerPixel, width)
        for name, reference in _references(frame, ds).items():
            assert np.array_equal(ours, reference), f"{path.name}: differs from {name}"
        if pixels <= interpreted_max_pixels:  # interpreted: ~100x slower
            assert np.array_equal(_decode(INTERPRETED, frame, pixels, ds.SamplesPerPixel,
                                          width), ours)
    # and through the handler road (read_into for few frames, decode_frame for more)
    native = dicomdecode.decode(str(path), handlers="native")
    other = dicomdecode.decode(str(path), handlers="imagecodecs")
    assert native.handler == "native"
    assert np.array_equal(native.array, other.array)


@pytest.mark.parametrize("path", _test_data_files(), ids=lambda p: p.name)
def test_test_data_equals_its_uncompressed_reference(path):
    """No library: the built-in decoder alone (as in an install without codecs) gives
    the pixels of the uncompressed file each RLE file was made from."""
    manifest = json.loads((ROOT / "test_data/MANIFEST.json").read_text())
    reference = {row["name"]: row["reference"] for row in manifest["files"]}[path.name]
    native = dicomdecode.decode(str(path), handlers="native")
    expected = dicomdecode.decode(str(ROOT / "test_data" / reference))
    assert native.handler == "native" and expected.handler == "native"
    assert np.array_equal(native.array, expected.array)


@pytest.mark.needs_handler("imagecodecs", "pylibjpeg")
@pytest.mark.parametrize("path", _test_data_files() + _pydicom_files(), ids=lambda p: p.name)
def test_real_files_equal_three_decoders(path):
    _check_file(path)


def _corpus_rle_rows() -> list[dict[str, str]]:
    manifest = corpus_path() / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    with manifest.open() as fh:
        return [row for row in csv.DictReader(fh, delimiter="\t")
                if row["transfer_syntax_uid"] == ts.RLE_LOSSLESS]


@pytest.mark.corpus
@pytest.mark.needs_handler("imagecodecs", "pylibjpeg")
@pytest.mark.parametrize("row", corpus_params(_corpus_rle_rows(), "relative_path"))
def test_corpus_rle_files_equal_three_decoders(corpus, row):
    path = corpus / row["relative_path"]
    if int(row["bits_allocated"]) == 1:  # packed 1-bit planes: not for pydicom/pylibjpeg
        native = dicomdecode.decode(str(path), handlers="native")
        other = dicomdecode.decode(str(path), handlers="imagecodecs")
        assert np.array_equal(native.array, other.array)
        return
    _check_file(path, interpreted_max_pixels=0)


# ----------------------------------------------------------------- through the handlers
def test_hostile_file_is_a_typed_error_naming_it(tmp_path):
    """A segment that decodes short passes the header guard; every handler refuses it and
    the error names the file (no partial image)."""
    source = ROOT / "test_data/u16_bs16_mono__rle.dcm"
    ds = pydicom.dcmread(source)
    pixels = ds.Rows * ds.Columns
    short = _frame([bytes([0x80]) * (2 * ((pixels + 127) // 128)),
                    _packbits(bytes(pixels))])
    ds.PixelData = pydicom.encaps.encapsulate([short])
    target = tmp_path / "short.dcm"
    ds.save_as(target)
    with pytest.raises(DicomDecodeError, match="short.dcm") as info:
        dicomdecode.decode(str(target))
    assert "native" in str(info.value)
