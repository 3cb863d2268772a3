"""The guard (dicomdecode.decode.validate) against real encodes and hostile patches of them.

Truth is always independent of the module: the DICOM header the encoder wrote (read by
pydicom), pydicom's own expected-length arithmetic, or a value we patched in ourselves.
"""

from __future__ import annotations

import dataclasses
import os
import random
import struct
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import get_expected_length

from dicomdecode.decode import validate
from dicomdecode.decode.validate import (
    ENV_MAX_BYTES,
    FAMILIES,
    CodestreamInfo,
    check_budget,
    check_codestream,
    check_header,
    check_native_size,
    check_rle_header,
    codestream_info,
    frame_nbytes,
    memory_budget,
    native_nbytes,
)
from dicomdecode.errors import DecodeError, ResourceLimitError
from dicomdecode.read.frames import split_frames
from dicomdecode.read.pixel_source import PixelSource

TEST_DATA = Path(__file__).resolve().parents[1] / "test_data"

FAMILY_BY_UID = {
    "1.2.840.10008.1.2.4.50": "jpeg",
    "1.2.840.10008.1.2.4.51": "jpeg",
    "1.2.840.10008.1.2.4.57": "jpeg-lossless",
    "1.2.840.10008.1.2.4.70": "jpeg-lossless",
    "1.2.840.10008.1.2.4.80": "jpegls",
    "1.2.840.10008.1.2.4.81": "jpegls",
    "1.2.840.10008.1.2.4.90": "j2k",
    "1.2.840.10008.1.2.4.91": "j2k",
    # HTJ2K has the J2K main header (SOC, SIZ): the same walkers and patches apply
    "1.2.840.10008.1.2.4.201": "j2k",
    "1.2.840.10008.1.2.4.202": "j2k",
    "1.2.840.10008.1.2.4.203": "j2k",
    "1.2.840.10008.1.2.5": "rle",
}


@dataclasses.dataclass
class Px:
    """A PixelHeader built by hand or from pydicom's reading of a file."""

    path: str = "x.dcm"
    transfer_syntax: str = "1.2.840.10008.1.2.1"
    rows: int = 64
    columns: int = 64
    samples_per_pixel: int = 1
    bits_allocated: int = 16
    bits_stored: int = 12
    pixel_representation: int = 0
    photometric_interpretation: str = "MONOCHROME2"
    planar_configuration: int = 0
    number_of_frames: int = 1
    float_pixels: int = 0


def px_from(ds: Dataset, path: Path) -> Px:
    return Px(path=str(path), transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
              rows=int(ds.Rows), columns=int(ds.Columns),
              samples_per_pixel=int(ds.SamplesPerPixel),
              bits_allocated=int(ds.BitsAllocated), bits_stored=int(ds.BitsStored),
              pixel_representation=int(ds.PixelRepresentation),
              photometric_interpretation=str(ds.PhotometricInterpretation),
              planar_configuration=int(ds.get("PlanarConfiguration", 0) or 0),
              number_of_frames=int(ds.get("NumberOfFrames", 1) or 1))


JPEG_XL = {"1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"}


def _files(encapsulated: bool) -> list[Path]:
    out = []
    for path in sorted(TEST_DATA.glob("*.dcm")):
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
        if uid in JPEG_XL:
            continue  # tested on their own below (a bit-packed size header, no markers)
        if (uid in FAMILY_BY_UID) == encapsulated:
            out.append(path)
    return out


ENCAPSULATED = _files(True)
NATIVE = _files(False)
_CACHE: dict[Path, tuple[Px, str, list[bytes], Dataset]] = {}


def load(path: Path) -> tuple[Px, str, list[bytes], Dataset]:
    if path not in _CACHE:
        ds = pydicom.dcmread(path)
        px = px_from(ds, path)
        family = FAMILY_BY_UID[px.transfer_syntax]
        frames = list(generate_frames(ds.PixelData, number_of_frames=px.number_of_frames))
        _CACHE[path] = (px, family, frames, ds)
    return _CACHE[path]


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_corpus_is_here():
    assert len(ENCAPSULATED) >= 50 and len(NATIVE) >= 20
    assert {FAMILY_BY_UID[str(load(p)[0].transfer_syntax)] for p in ENCAPSULATED} == {
        "jpeg", "jpeg-lossless", "jpegls", "j2k", "rle"}


# ---------------------------------------------------------------- test-side marker walkers
# Minimal, standard-structure walkers used only to find where to patch.


def jpeg_sof_pos(data: bytes) -> int:
    """Offset of the SOF/SOF55 marker (the FF byte) in a well-formed real stream."""
    pos = 2
    while True:
        assert data[pos] == 0xFF
        marker = data[pos + 1]
        if marker in (0xC0, 0xC1, 0xC3, 0xF7):
            return pos
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]


def patch_dims(family: str, data: bytes, rows: int, cols: int) -> bytes:
    buf = bytearray(data)
    if family == "j2k":
        xo, yo = struct.unpack(">II", buf[16:24])
        struct.pack_into(">II", buf, 8, cols + xo, rows + yo)
    else:
        struct.pack_into(">HH", buf, jpeg_sof_pos(data) + 5, rows, cols)
    return bytes(buf)


def patch_precision(family: str, data: bytes, precision: int) -> bytes:
    buf = bytearray(data)
    if family == "j2k":
        csiz = struct.unpack(">H", buf[40:42])[0]
        for c in range(csiz):
            buf[42 + 3 * c] = (buf[42 + 3 * c] & 0x80) | (precision - 1)
    else:
        buf[jpeg_sof_pos(data) + 4] = precision
    return bytes(buf)


def patch_components(family: str, data: bytes, n: int) -> bytes:
    """Rebuild the SOF/SIZ with n component specs (copies of the first), lengths fixed."""
    if family == "j2k":
        spec = data[42:45]
        size = data[6:40] + struct.pack(">H", n) + spec * n
        old_len = struct.unpack(">H", data[4:6])[0]
        return data[:4] + struct.pack(">H", len(size) + 2) + size + data[4 + old_len:]
    pos = jpeg_sof_pos(data)
    old_len = struct.unpack(">H", data[pos + 2:pos + 4])[0]
    head = data[pos + 4:pos + 9]  # P, Y, X
    specs = b"".join(bytes([c + 1]) + data[pos + 11:pos + 13] for c in range(n))
    body = head + bytes([n]) + specs
    return data[:pos + 2] + struct.pack(">H", len(body) + 2) + body + data[pos + 2 + old_len:]


def header_end(family: str, data: bytes) -> int:
    """Offset just past the SOF/SIZ segment."""
    if family == "j2k":
        return 4 + struct.unpack(">H", data[4:6])[0]
    pos = jpeg_sof_pos(data)
    return pos + 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]


def wrap_jp2(codestream: bytes) -> bytes:
    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload
    return (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + box(b"ftyp", b"jp2 \x00\x00\x00\x00jp2 ")
            + box(b"jp2h", box(b"ihdr", bytes(14))) + box(b"jp2c", codestream))


NON_RLE = [p for p in ENCAPSULATED if "__rle" not in p.name]
RLE = [p for p in ENCAPSULATED if "__rle" in p.name]


# ---------------------------------------------------------------- real codestreams


@pytest.mark.parametrize("path", NON_RLE, ids=ids(NON_RLE))
def test_codestream_info_matches_dicom_header(path):
    px, family, frames, ds = load(path)
    assert len(frames) == px.number_of_frames
    for frame in frames:
        info = codestream_info(family, frame)
        assert isinstance(info, CodestreamInfo)
        assert (info.rows, info.columns, info.components) == (ds.Rows, ds.Columns,
                                                              ds.SamplesPerPixel)
        assert ds.BitsStored <= info.precision <= ds.BitsAllocated or family == "jpeg"
        if family == "j2k":
            assert info.signed == bool(ds.PixelRepresentation)
        check_codestream(px, family, frame)


@pytest.mark.parametrize("path", RLE, ids=ids(RLE))
def test_rle_header_passes_and_info_is_none(path):
    px, family, frames, ds = load(path)
    for frame in frames:
        assert codestream_info("rle", frame) is None
        assert struct.unpack("<I", frame[:4])[0] == ds.SamplesPerPixel * ds.BitsAllocated // 8
        check_rle_header(px, frame)
        check_codestream(px, family, frame)


@pytest.mark.parametrize("path", ENCAPSULATED, ids=ids(ENCAPSULATED))
def test_real_files_pass_header_and_frame_checks(path):
    """The one frame splitter (read/frames.py) gives pydicom's frames for every real file."""
    px, family, frames, ds = load(path)
    check_header(px)
    value = _value_after_tag(ds)
    assert split_frames(value, _source(px.number_of_frames)) == frames


def test_jp2_wrapper_is_unwrapped():
    px, family, frames, ds = load(TEST_DATA / "rgb8__j2k_lossless.dcm")
    info = codestream_info("j2k", wrap_jp2(frames[0]))
    assert info is not None and (info.rows, info.columns, info.components) == (
        ds.Rows, ds.Columns, ds.SamplesPerPixel)
    bomb = wrap_jp2(patch_dims("j2k", frames[0], 65535, 65535))
    with pytest.raises(DecodeError, match="65535x65535.*64x64"):
        check_codestream(px, "htj2k", bomb)


# ---------------------------------------------------------------- hostile patches


@pytest.mark.parametrize("path", NON_RLE, ids=ids(NON_RLE))
def test_dimension_bomb_is_refused(path):
    px, family, frames, ds = load(path)
    for rows, cols in ((65535, 65535), (ds.Rows + 1, ds.Columns), (ds.Rows, 1)):
        bad = patch_dims(family, frames[-1], rows, cols)
        with pytest.raises(DecodeError) as err:
            check_codestream(px, family, bad)
        message = str(err.value)
        assert f"{rows}x{cols}" in message and f"{ds.Rows}x{ds.Columns}" in message
        assert err.value.path == str(path)


@pytest.mark.parametrize("path", NON_RLE, ids=ids(NON_RLE))
def test_wrong_component_count_is_refused(path):
    px, family, frames, ds = load(path)
    n = 1 if ds.SamplesPerPixel == 3 else 3
    bad = patch_components(family, frames[0], n)
    info = codestream_info(family, bad)
    assert info is not None and info.components == n
    with pytest.raises(DecodeError, match=rf"{n} components.*Samples per Pixel "
                                          rf"{ds.SamplesPerPixel}"):
        check_codestream(px, family, bad)


@pytest.mark.parametrize("path", [p for p in NON_RLE if "8_" in p.name or "rgb8" in p.name],
                         ids=ids([p for p in NON_RLE if "8_" in p.name or "rgb8" in p.name]))
def test_precision_16_in_8_bit_file_is_refused(path):
    px, family, frames, ds = load(path)
    assert ds.BitsAllocated == 8
    with pytest.raises(DecodeError, match=r"precision is 16 bits.*Bits Allocated 8"):
        check_codestream(px, family, patch_precision(family, frames[0], 16))


@pytest.mark.parametrize("path", NON_RLE, ids=ids(NON_RLE))
def test_precision_outside_process_is_refused(path):
    px, family, frames, ds = load(path)
    bad = patch_precision(family, frames[0], 1 if family != "j2k" else 40)
    with pytest.raises(DecodeError, match="precision"):
        check_codestream(px, family, bad)


@pytest.mark.parametrize("path", NON_RLE, ids=ids(NON_RLE))
def test_truncated_mid_marker_is_decode_error(path):
    px, family, frames, ds = load(path)
    end = header_end(family, frames[0])
    for cut in (end - 1, end - 4, end - 9):
        with pytest.raises(DecodeError, match="truncated|length"):
            codestream_info(family, frames[0][:cut])
        with pytest.raises(DecodeError) as err:
            check_codestream(px, family, frames[0][:cut])
        assert err.value.path == str(path)


@pytest.mark.parametrize("path", NON_RLE, ids=ids(NON_RLE))
def test_random_bytes_give_none_or_decode_error(path):
    px, family, frames, ds = load(path)
    rng = random.Random(path.name)
    for _ in range(50):
        junk = rng.randbytes(rng.randrange(0, 400))
        try:
            info = codestream_info(family, junk)
        except DecodeError:
            continue
        assert info is None or isinstance(info, CodestreamInfo)
    # garbage between markers cannot hide a SOF from the guard (libjpeg would skip it and
    # decode on; GDCM aborts): such a header is refused outright
    if family != "j2k":
        pos = jpeg_sof_pos(frames[0])
        bomb = patch_dims(family, frames[0], 65535, 65535)
        hidden = bomb[:pos] + b"\x00garbage\x12" + bomb[pos:]
        with pytest.raises(DecodeError, match="extraneous bytes between segments"):
            check_codestream(px, family, hidden)


def test_jpeg_dnl_rows_zero_is_unknown_not_an_error():
    px, family, frames, ds = load(TEST_DATA / "u8_mono__jpeg_lossless.dcm")
    info = codestream_info(family, patch_dims(family, frames[0], 0, ds.Columns))
    assert info is not None and info.rows is None and info.columns == ds.Columns
    check_codestream(px, family, patch_dims(family, frames[0], 0, ds.Columns))


def test_jpegls_rows_zero_is_refused():
    px, family, frames, ds = load(TEST_DATA / "u8_mono__jpegls_lossless.dcm")
    with pytest.raises(DecodeError, match="0x64"):
        check_codestream(px, family, patch_dims(family, frames[0], 0, ds.Columns))


@pytest.mark.parametrize("path", RLE, ids=ids(RLE))
def test_rle_hostile_headers(path):
    px, family, frames, ds = load(path)
    frame = frames[0]
    count = struct.unpack("<I", frame[:4])[0]

    def patched(index: int, value: int) -> bytes:
        buf = bytearray(frame)
        struct.pack_into("<I", buf, 4 * index, value)
        return bytes(buf)

    with pytest.raises(DecodeError, match=rf"{count + 1} segments.*implies {count}"):
        check_rle_header(px, patched(0, count + 1))
    with pytest.raises(DecodeError, match="offset is 0, must be 64"):
        check_rle_header(px, patched(1, 0))
    if count > 1:
        with pytest.raises(DecodeError, match=f"of a {len(frame)}-byte frame"):
            check_rle_header(px, patched(count, len(frame) + 10))  # offset past the end
    # a segment too short to hold Rows*Columns bytes (2-byte packets give <= 128 each)
    with pytest.raises(DecodeError, match=f"of a 74-byte frame; {ds.Rows}x{ds.Columns}"):
        check_rle_header(px, frame[:74])
    with pytest.raises(DecodeError, match="truncated: frame has 10 bytes of 64"):
        check_rle_header(px, frame[:10])
    if count > 1:
        with pytest.raises(DecodeError, match="segment"):
            check_rle_header(px, patched(2, 64))  # not increasing
    with pytest.raises(DecodeError, match="segments"):
        check_rle_header(px, patched(0, 0xFFFFFFFF))


# ---------------------------------------------------------------- hypothesis: hostile bytes

PREFIXES = [b"", b"\xff\xd8", b"\xff\xd8\xff\xc3", b"\xff\xd8\xff\xf7", b"\xff\x4f\xff\x51",
            b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\xd8\xff"]


@settings(max_examples=400, deadline=500, suppress_health_check=[HealthCheck.too_slow])
@given(family=st.sampled_from(sorted(FAMILIES)), prefix=st.sampled_from(PREFIXES),
       body=st.binary(max_size=3000))
def test_codestream_info_on_arbitrary_bytes(family, prefix, body):
    data = prefix + body
    try:
        info = codestream_info(family, data)
    except DecodeError:
        return
    assert info is None or isinstance(info, CodestreamInfo)


@settings(max_examples=300, deadline=500)
@given(index=st.sampled_from(range(len(NON_RLE))), flips=st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 255)), min_size=1, max_size=8))
def test_codestream_info_on_mutated_real_streams(index, flips):
    px, family, frames, ds = load(NON_RLE[index])
    buf = bytearray(frames[0])
    for pos, value in flips:
        if pos < len(buf):
            buf[pos] = value
    try:
        check_codestream(px, family, bytes(buf))
    except DecodeError:
        pass


@pytest.mark.parametrize("family", ["jpeg", "jpegls", "j2k"])
@pytest.mark.parametrize("body", [b"\xff" * (1 << 20), b"\xff\xfe\x00\x02" * (1 << 18),
                                  b"\x00" * (1 << 20)],
                         ids=["fill", "tiny-segments", "zeros"])
def test_worst_case_input_is_linear(family, body):
    """A megabyte of worst-case markers is walked once, not once per segment: a linear
    walk of these 2**18 segments costs a fraction of a CPU second, a quadratic one would
    not end. This thread's CPU time is counted (not the wall clock), so a loaded machine
    cannot fail it; it is a guard against a hang, not a speed measurement."""
    head = b"\xff\x4f" if family == "j2k" else b"\xff\xd8"
    start = time.thread_time()
    try:
        codestream_info(family, head + body)
    except DecodeError:
        pass
    assert time.thread_time() - start < 10.0


def test_unknown_family_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown codec family"):
        codestream_info("mpeg2", b"")


# ---------------------------------------------------------------- header checks

HOSTILE = [
    ({"rows": 0}, "Rows is 0"),
    ({"rows": 65536}, "Rows is 65536"),
    ({"columns": 0}, "Columns is 0"),
    ({"columns": -5}, "Columns is -5"),
    ({"samples_per_pixel": 2}, "Samples per Pixel is 2"),
    ({"samples_per_pixel": 0}, "Samples per Pixel is 0"),
    ({"samples_per_pixel": 3}, "Samples per Pixel is 3.*MONOCHROME2 requires 1"),
    ({"samples_per_pixel": 4, "photometric_interpretation": "RGB"}, "4.*RGB requires 3"),
    ({"samples_per_pixel": 1, "photometric_interpretation": "YBR_FULL"}, "1.*requires 3"),
    ({"photometric_interpretation": "MONOCHROME3"}, "MONOCHROME3"),
    ({"photometric_interpretation": ""}, "Photometric Interpretation"),
    ({"bits_allocated": 12, "bits_stored": 12}, "Bits Allocated is 12"),
    ({"bits_allocated": 0, "bits_stored": 0}, "Bits Allocated is 0"),
    ({"bits_stored": 0}, "Bits Stored is 0, must be 1..16"),
    ({"bits_stored": 17}, "Bits Stored is 17, must be 1..16"),
    ({"pixel_representation": 2}, "Pixel Representation is 2"),
    ({"samples_per_pixel": 3, "photometric_interpretation": "RGB",
      "planar_configuration": 2}, "Planar Configuration is 2"),
    ({"number_of_frames": 0}, "Number of Frames is 0"),
    ({"number_of_frames": -1}, "Number of Frames is -1"),
    ({"float_pixels": 32}, "Bits Allocated is 16, 32-bit float"),
    ({"float_pixels": 48, "bits_allocated": 32}, "float pixel size is 48"),
    ({"bits_allocated": 1, "bits_stored": 1, "samples_per_pixel": 3,
      "photometric_interpretation": "RGB"}, "1-bit data is monochrome"),
    ({"samples_per_pixel": 3, "photometric_interpretation": "YBR_FULL_422", "columns": 63,
      "bits_allocated": 8, "bits_stored": 8}, "Columns is 63"),
]


@pytest.mark.parametrize("change,message", HOSTILE, ids=[m for _, m in HOSTILE])
def test_hostile_header_values(change, message):
    with pytest.raises(DecodeError, match=message) as err:
        check_header(Px(path="bad.dcm", **change))
    assert err.value.path == "bad.dcm"


ACCEPTED = [
    {"samples_per_pixel": 4, "photometric_interpretation": "ARGB", "bits_allocated": 8,
     "bits_stored": 8},
    {"samples_per_pixel": 4, "photometric_interpretation": "CMYK", "bits_allocated": 8,
     "bits_stored": 8},
    {"planar_configuration": 7},  # meaningless with one sample: tolerated
    {"bits_allocated": 1, "bits_stored": 1},
    {"bits_allocated": 32, "bits_stored": 0, "float_pixels": 32},
    {"bits_allocated": 64, "bits_stored": 64, "float_pixels": 64},
    {"rows": 65535, "columns": 1},
    {"samples_per_pixel": 3, "photometric_interpretation": "YBR_FULL_422", "columns": 63,
     "transfer_syntax": "1.2.840.10008.1.2.4.50", "bits_allocated": 8, "bits_stored": 8},
]


@pytest.mark.parametrize("change", ACCEPTED)
def test_accepted_header_values(change):
    check_header(Px(**change))


@pytest.mark.parametrize("path", NATIVE, ids=ids(NATIVE))
def test_real_native_files_pass(path):
    ds = pydicom.dcmread(path)
    px = px_from(ds, path)
    check_header(px)
    expected = ds.Rows * ds.Columns * ds.SamplesPerPixel * px.number_of_frames * (
        ds.BitsAllocated // 8)
    assert native_nbytes(px) == expected
    assert len(ds.PixelData) in (expected, expected + 1)
    check_native_size(px, len(ds.PixelData))


# ---------------------------------------------------------------- native sizes


def _dataset(px: Px) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns = px.rows, px.columns
    ds.SamplesPerPixel, ds.BitsAllocated = px.samples_per_pixel, px.bits_allocated
    ds.BitsStored, ds.PixelRepresentation = px.bits_stored, px.pixel_representation
    ds.PhotometricInterpretation = px.photometric_interpretation
    ds.NumberOfFrames = px.number_of_frames
    if px.samples_per_pixel > 1:
        ds.PlanarConfiguration = 0
    return ds


SIZES = [
    Px(),
    Px(rows=3, columns=3, bits_allocated=1, bits_stored=1, number_of_frames=3),
    Px(rows=5, columns=7, bits_allocated=1, bits_stored=1, number_of_frames=1),
    Px(rows=4, columns=6, samples_per_pixel=3, photometric_interpretation="RGB",
       bits_allocated=8, bits_stored=8, number_of_frames=2),
    Px(rows=4, columns=6, samples_per_pixel=3, photometric_interpretation="YBR_FULL_422",
       bits_allocated=8, bits_stored=8, number_of_frames=2),
    Px(rows=3, columns=5, bits_allocated=32, bits_stored=32, number_of_frames=2),
    Px(rows=3, columns=3, bits_allocated=8, bits_stored=8),
]


@pytest.mark.parametrize("px", SIZES, ids=range(len(SIZES)))
def test_native_nbytes_matches_pydicom(px):
    expected = get_expected_length(_dataset(px), unit="bytes")
    assert native_nbytes(px) == expected
    check_native_size(px, expected)
    check_native_size(px, expected + 1)  # the even-length pad
    with pytest.raises(DecodeError, match=f"truncated: {expected - 1} bytes of {expected}"):
        check_native_size(px, expected - 1)
    frame = max(frame_nbytes(px), 2)
    check_native_size(px, expected + frame - 1)  # less than a frame of padding: ignored
    with pytest.raises(DecodeError, match=f"{expected + frame} bytes.*{expected}"):
        check_native_size(px, expected + frame)


def test_one_bit_frames_are_packed_across_frames():
    px = Px(rows=3, columns=3, bits_allocated=1, bits_stored=1, number_of_frames=3)
    assert frame_nbytes(px) == 2  # 9 bits alone
    assert native_nbytes(px) == 4  # 27 bits together, not 3 * 2
    check_native_size(px, 4)
    with pytest.raises(DecodeError, match="truncated: 0 bytes of 4"):
        check_native_size(px, 0)


# ---------------------------------------------------------------- frames and offsets


def _value_after_tag(ds: Dataset) -> bytes:
    return bytes(ds.PixelData)  # from the Basic Offset Table item on, as split_frames reads


def _source(frames: int) -> PixelSource:
    return PixelSource("f.dcm", "1.2.840.10008.1.2.4.50", 8, 8, 1, 8, 8, 0, "MONOCHROME2", 0,
                       frames)


def _encapsulated(fragments: list[bytes], offsets: list[int] | None = None) -> bytes:
    table = b"".join(struct.pack("<I", o) for o in offsets or [])
    items = [table, *fragments]
    return b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, len(i)) + i for i in items) + \
        struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


JPEG = b"\xff\xd8" + b"\x11" * 6 + b"\xff\xd9"  # frame ends marked by EOI


def test_frame_count_rules():
    """Fragments against Number of Frames, judged by the one splitter every road uses."""
    assert len(split_frames(_encapsulated([JPEG] * 3), _source(3))) == 3
    # one frame: every fragment is part of it
    assert split_frames(_encapsulated([JPEG[:4], JPEG[4:]]), _source(1)) == [JPEG]
    # more fragments than frames, with an offset table: the table says where frames start
    frags = [JPEG[:4], JPEG[4:], JPEG, JPEG]
    value = _encapsulated(frags, [0, 8 + 4 + 8 + 6, 2 * 8 + 10 + 10])
    assert split_frames(value, _source(3)) == [JPEG] * 3
    with pytest.raises(DecodeError, match="fewer fragments than frames"):
        split_frames(_encapsulated([JPEG] * 2), _source(3))
    with pytest.raises(DecodeError):
        split_frames(_encapsulated([]), _source(1))
    with pytest.raises(DecodeError, match="empty frame"):
        split_frames(_encapsulated([JPEG, b""]), _source(2))


EXTENDED = [
    (([0, 10], [10, 10]), 3, "holds 2 offset\\(s\\) and 2 length\\(s\\) for 3"),
    (([0, 1000], [10, 10]), 2, "entry 1 .* outside"),
    (([18, 0], [10, 10]), 2, "entry 1 .* out of order"),
    (([0, 18], [10, 500]), 2, "entry 1 .* outside"),
]


@pytest.mark.parametrize("table,frames,message", EXTENDED, ids=[m for *_, m in EXTENDED])
def test_hostile_extended_offsets(table, frames, message):
    offsets, lengths = table
    raw = (struct.pack(f"<{len(offsets)}Q", *offsets), struct.pack(f"<{len(lengths)}Q", *lengths))
    with pytest.raises(DecodeError, match=message):
        split_frames(_encapsulated([JPEG, JPEG]), _source(frames), raw)


def test_good_extended_offsets():
    raw = (struct.pack("<2Q", 0, 18), struct.pack("<2Q", 10, 10))
    assert split_frames(_encapsulated([JPEG, JPEG]), _source(2), raw) == [JPEG, JPEG]


# ---------------------------------------------------------------- memory budget


def test_budget_from_environment(monkeypatch):
    from dicomdecode.options import Options

    monkeypatch.setenv(ENV_MAX_BYTES, str(10 * 2**20))
    limit = memory_budget(Options.resolve().max_bytes)  # the variable is read by Options
    assert limit == 10 * 2**20
    check_budget(10 * 2**20, "a.dcm", limit)
    with pytest.raises(ResourceLimitError) as err:
        check_budget(65535 * 65535 * 2, "a.dcm", limit)
    assert err.value.needed == 65535 * 65535 * 2 and err.value.limit == 10 * 2**20
    assert err.value.path == "a.dcm"
    assert "8191.8 MiB" in str(err.value) and "10.0 MiB" in str(err.value)


def test_explicit_limit_wins(monkeypatch):
    monkeypatch.setenv(ENV_MAX_BYTES, "1")
    with pytest.raises(ResourceLimitError, match="frame buffer need 3.0 MiB") as err:
        check_budget(3 * 2**20, "b.dcm", limit=2 * 2**20, what="frame buffer")
    assert (err.value.needed, err.value.limit) == (3 * 2**20, 2 * 2**20)
    check_budget(3 * 2**20, "b.dcm", limit=3 * 2**20)


@pytest.mark.parametrize("value", ["lots", "1.5e9", "-4", "0"])
def test_bad_budget_variable(monkeypatch, value):
    from dicomdecode.options import Options

    monkeypatch.setenv(ENV_MAX_BYTES, value)
    with pytest.raises(ValueError, match=ENV_MAX_BYTES):
        Options.resolve()


def test_default_budget_is_half_available_memory(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_MAX_BYTES, raising=False)
    monkeypatch.setattr(validate, "CGROUP_DIR", str(tmp_path / "no-cgroup"))
    budget = memory_budget()
    if os.path.exists("/proc/meminfo"):
        with open("/proc/meminfo") as fh:
            avail = next(int(line.split()[1]) * 1024 for line in fh
                         if line.startswith("MemAvailable:"))
        assert abs(budget - avail // 2) < avail // 10  # memory moves while we read it
    else:
        assert budget > 0


def test_default_budget_respects_cgroup_limit(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_MAX_BYTES, raising=False)
    (tmp_path / "memory.max").write_text("1073741824\n")
    (tmp_path / "memory.current").write_text("536870912\n")
    monkeypatch.setattr(validate, "CGROUP_DIR", str(tmp_path))
    assert memory_budget() == (1 << 30) // 4  # half of the 512 MiB left in the cgroup
    (tmp_path / "memory.max").write_text("max\n")
    assert memory_budget() > (1 << 30) // 4 or memory_budget() > 0


# ---------------------------------------------------------------- duck typing


def test_integer_likes_and_frozen_objects_are_accepted():
    import numpy as np

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        path: str = "n.dcm"
        transfer_syntax: str = "1.2.840.10008.1.2.1"
        rows: object = np.uint16(512)
        columns: object = pydicom.valuerep.IS("512")
        samples_per_pixel: object = np.int64(1)
        bits_allocated: object = np.int32(16)
        bits_stored: object = np.uint8(12)
        pixel_representation: object = np.int8(0)
        photometric_interpretation: str = "MONOCHROME2 "
        planar_configuration: int = 0
        number_of_frames: object = np.int64(2)
        float_pixels: int = 0

    header = Frozen()
    check_header(header)
    assert native_nbytes(header) == 512 * 512 * 2 * 2
    with pytest.raises(DecodeError, match="Rows is 0"):
        check_header(dataclasses.replace(header, rows=np.uint16(0)))
    with pytest.raises(DecodeError, match="Rows is 512.5"):
        check_header(dataclasses.replace(header, rows=512.5))


# ---------------------------------------------------------------- JPEG XL size header

JXL_FILES = sorted(p for p in TEST_DATA.glob("*jpegxl*.dcm"))


@pytest.mark.parametrize("path", JXL_FILES, ids=ids(JXL_FILES))
def test_jpegxl_size_header_matches_dicom_header(path):
    ds = pydicom.dcmread(path)
    px = px_from(ds, path)
    frames = list(generate_frames(ds.PixelData, number_of_frames=px.number_of_frames))
    for frame in frames:
        info = codestream_info("jpegxl", frame)
        assert info is not None and (info.rows, info.columns) == (ds.Rows, ds.Columns)
        check_codestream(px, "jpegxl", frame)


@pytest.mark.needs_handler("imagecodecs")
@pytest.mark.parametrize("shape", [(65, 64), (64, 1), (8, 8), (2000, 3000)])
def test_jpegxl_of_another_size_is_refused(shape):
    """A codestream libjxl wrote for another image size, in a 64x64 file: refused before
    libjxl allocates from it (both bare and in the ISO BMFF container)."""
    import imagecodecs

    path = TEST_DATA / "u8_mono__jpegxl_lossless.dcm"
    px = px_from(pydicom.dcmread(path), path)
    image = np.zeros(shape, dtype=np.uint8)
    for container in (False, True):
        stream = bytes(imagecodecs.jpegxl_encode(image, lossless=True, effort=1,
                                                 usecontainer=container))
        info = codestream_info("jpegxl", stream)
        assert info is not None and (info.rows, info.columns) == shape
        with pytest.raises(DecodeError, match=rf"{shape[0]}x{shape[1]}.*64x64"):
            check_codestream(px, "jpegxl", stream)


def test_jpegxl_family_refuses_other_and_truncated_codestreams():
    path = TEST_DATA / "u8_mono__jpegxl_lossless.dcm"
    ds = pydicom.dcmread(path)
    px = px_from(ds, path)
    real = next(generate_frames(ds.PixelData, number_of_frames=1))
    j2k = next(generate_frames(pydicom.dcmread(TEST_DATA / "u8_mono__j2k_lossless.dcm")
                               .PixelData, number_of_frames=1))
    with pytest.raises(DecodeError, match="not a JPEGXL codestream"):
        check_codestream(px, "jpegxl", j2k)
    for cut in range(0, 4):  # the 64x64 size header needs 9 bits after FF0A
        with pytest.raises(DecodeError):
            check_codestream(px, "jpegxl", real[:cut])


@pytest.mark.needs_handler("imagecodecs")
@pytest.mark.parametrize(("field", "value", "message"), [
    (0, 75, "progression order is 75"),  # fuzz seed 104: OpenJPH decoded zeros from it
    (1, 0, "0 quality layers"),
    (4, 33, "33 decomposition levels"),
    (5, 9, "exponents are 9"),
])
def test_j2k_cod_values_the_standard_does_not_define_are_refused(tmp_path, field, value,
                                                                   message):
    """A COD field flipped in an HTJ2K file: OpenJPH, first for HTJ2K, returned an
    all-zero image for an undefined progression order without any error. The guard
    refuses such a COD before any codec; the unmutated file passes."""
    from pydicom.encaps import encapsulate

    from dicomdecode import decode_file

    path = TEST_DATA / "s16_bs12_ct__htj2k_lossless.dcm"
    ds = pydicom.dcmread(path)
    px = px_from(ds, path)
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    check_codestream(px, "htj2k", bytes(frame))
    # SGcod starts 5 bytes after the COD marker FF52: order, layers (2), MCT, then
    # SPcod: levels, xcb, ycb
    offsets = {0: 5, 1: 6, 4: 9, 5: 10}
    at = frame.index(b"\xff\x52") + offsets[field]
    if field == 1:
        frame[at:at + 2] = value.to_bytes(2, "big")
    else:
        frame[at] = value
    with pytest.raises(DecodeError, match=message):
        check_codestream(px, "htj2k", bytes(frame))
    ds.PixelData = encapsulate([bytes(frame)])
    mutant = tmp_path / "cod.dcm"
    ds.save_as(mutant)
    with pytest.raises(DecodeError, match=message):
        decode_file(mutant)


def test_deflated_frame_count_is_checked_against_the_inflated_value(tmp_path):
    """Fuzz seed 303: test_data's deflated CT with Number of Frames 1000000. Its inflated
    value is checked as a native one before the output is sized by the header (it was
    not: a 7.6 GiB array was allocated, the budget allowing it, before the decoder found
    8 KB of pixels). The budget is set huge here so that only the guard can refuse it."""
    from dicomdecode import decode_file
    from dicomdecode.options import Options

    ds = pydicom.dcmread(TEST_DATA / "s16_bs16_ct__deflated_le.dcm")
    assert len(ds.PixelData) == 64 * 64 * 2  # pydicom's own reading: one 64x64 frame
    ds.NumberOfFrames = 1_000_000
    path = tmp_path / "deflated_million_frames.dcm"
    ds.save_as(path)
    with pytest.raises(DecodeError, match="8192 bytes of 8192000000"):
        decode_file(path, options=Options(max_bytes=1 << 45))
    ds.NumberOfFrames = 1  # and the unmutated count still decodes, as pydicom reads it
    ds.save_as(path)
    np.testing.assert_array_equal(decode_file(path)[0], ds.pixel_array)
