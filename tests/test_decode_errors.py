"""Bad input gets a typed error naming the file and what is wrong; never zeros."""

from __future__ import annotations

import shutil
import sys

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomdecode import decode, decode_file
from dicomdecode.decode.dispatch import available_handlers, candidates
from dicomdecode.decode.handlers import HANDLERS
from dicomdecode.errors import (
    DecodeError,
    DicomDecodeError,
    MissingHandlerError,
    NoPixelDataError,
    NotDicomError,
    UnsupportedTransferSyntaxError,
)

from .conftest import TEST_DATA
from .decode_helpers import pydicom_reference


def test_not_dicom(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not an image\n" * 20)
    with pytest.raises(NotDicomError) as info:
        decode_file(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DicomDecodeError)


def test_empty_file_is_not_dicom(tmp_path):
    path = tmp_path / "empty.dcm"
    path.write_bytes(b"")
    with pytest.raises(NotDicomError):
        decode_file(path)


def test_object_without_pixels(tmp_path):
    with pytest.raises(NoPixelDataError) as info:
        decode_file(get_testdata_file("rtplan.dcm"))
    assert "rtplan.dcm" in str(info.value)


def _copy_with_syntax(tmp_path, source: str, uid: str):
    """A copy of a real file whose File Meta names `uid` (pixel data left as it was).

    pydicom refuses to write syntaxes it does not know, so a private placeholder UID of
    the same length is written and then replaced in the File Meta bytes."""
    ds = pydicom.dcmread(get_testdata_file(source))
    placeholder = "9" * len(uid)
    ds.file_meta.TransferSyntaxUID = placeholder
    path = tmp_path / f"{source}.{uid}.dcm"
    ds.save_as(path, implicit_vr=False, little_endian=True, enforce_file_format=False)
    data = path.read_bytes()
    assert data.count(placeholder.encode()) == 1
    path.write_bytes(data.replace(placeholder.encode(), uid.encode()))
    return path


@pytest.mark.parametrize("uid,name", [
    ("1.2.840.10008.1.2.4.100", "MPEG2"),
    ("1.2.840.10008.1.2.4.94", "JPIP"),
    ("1.2.840.10008.1.2.4.107", "HEVC"),
])
def test_unsupported_syntax_names_it(tmp_path, uid, name):
    path = _copy_with_syntax(tmp_path, "JPEG2000.dcm", uid)
    with pytest.raises(UnsupportedTransferSyntaxError) as info:
        decode_file(path)
    message = str(info.value)
    assert uid in message and name in message and str(path) in message
    assert info.value.uid == uid


def test_unknown_syntax_uid(tmp_path):
    path = _copy_with_syntax(tmp_path, "JPEG2000.dcm", "1.2.3.4.5.6")
    with pytest.raises(UnsupportedTransferSyntaxError, match="unknown transfer syntax"):
        decode_file(path)


def test_missing_handler_names_the_extra(monkeypatch):
    """With no codec library importable, a compressed file says which extra to install."""
    for handler in HANDLERS.values():
        if handler.name != "native":
            monkeypatch.setattr(handler, "supports", lambda uid: False)
    path = get_testdata_file("MR_small_jp2klossless.dcm")
    with pytest.raises(MissingHandlerError) as info:
        decode_file(path)
    message = str(info.value)
    assert "1.2.840.10008.1.2.4.90" in message and "JPEG 2000 Lossless Only" in message
    assert 'pip install "dicomdecode[gdcm]"' in message
    assert 'pip install "dicomdecode[pylibjpeg]"' in message
    assert path in message


def test_truncated_native_pixel_data(tmp_path):
    source = get_testdata_file("CT_small.dcm")
    data = open(source, "rb").read()
    path = tmp_path / "short.dcm"
    ds = pydicom.dcmread(source)
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]
    ds.save_as(path)
    assert len(path.read_bytes()) < len(data)
    with pytest.raises(DecodeError, match="too short|truncated") as info:
        decode_file(path)
    assert str(path) in str(info.value)


def test_truncated_file(tmp_path):
    source = get_testdata_file("MR_small_jp2klossless.dcm")
    path = tmp_path / "cut.dcm"
    data = open(source, "rb").read()
    path.write_bytes(data[: len(data) - 3000])
    with pytest.raises(DecodeError) as info:
        decode_file(path)
    assert str(path) in str(info.value)


@pytest.mark.needs_handler("pylibjpeg")
@pytest.mark.needs_handler("gdcm")
def test_corrupt_codestream_lists_each_handler(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    from pydicom.encaps import encapsulate, generate_frames

    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    # keep the main header and the tile-part header (they pass the guard), then cut the
    # codestream short: every J2K decoder must fail on it
    frame = frame[:frame.index(b"\xff\x90") + 14]
    ds.PixelData = encapsulate([bytes(frame)])
    path = tmp_path / "corrupt_j2k.dcm"
    ds.save_as(path)
    with pytest.raises(DecodeError) as info:
        decode_file(path)
    tried = [name for name, _ in info.value.failures]
    assert set(tried) == {h.name for h in candidates("1.2.840.10008.1.2.4.90")}
    assert str(path) in str(info.value)


def test_frames_out_of_range():
    with pytest.raises(IndexError):
        decode(get_testdata_file("CT_small.dcm"), frames=[1])


@pytest.mark.needs_handler("pylibjpeg", "gdcm")
def test_handler_override_and_environment(monkeypatch):
    path = get_testdata_file("MR_small_RLE.dcm")
    names = [h.name for h in candidates("1.2.840.10008.1.2.5")]
    assert len(names) >= 2
    last = names[-1]
    assert decode(path, handlers=last).handler == last
    monkeypatch.setenv("DICOMDECODE_HANDLERS", f"{last},{names[0]}")
    assert decode(path).handler == last
    with pytest.raises(ValueError, match="unknown handler"):
        decode(path, handlers="nonesuch")


def test_native_ignores_handler_override():
    """Uncompressed data needs no codec: forcing a codec handler still decodes it."""
    path = get_testdata_file("CT_small.dcm")
    result = decode(path, handlers="gdcm")
    assert result.handler == "native"
    np.testing.assert_array_equal(result.array, pydicom_reference(path))


def test_available_handlers_lists_native_syntaxes():
    table = available_handlers()
    for uid in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
                "1.2.840.10008.1.2.1.99"):
        assert table[uid] == ["native"]


def test_zero_filled_pixels_are_returned_as_stored(tmp_path):
    """An image that really is all zero decodes to zeros (the guard is against *invented*
    zeros, never against real ones)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 4, 4, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(32)
    path = tmp_path / "zeros.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert not decode_file(path).any()


def test_copy_of_file_decodes_same(tmp_path):
    source = get_testdata_file("rtdose.dcm")
    target = tmp_path / "noext"
    shutil.copy(source, target)
    np.testing.assert_array_equal(decode_file(target), pydicom_reference(source))


def _htj2k_with_corrupt_code_block(tmp_path):
    """test_data's 8-bit HTJ2K lossless file with the first byte of its packet data (just
    after the SOD marker FF93) inverted: the headers still pass the guard, OpenJPH throws
    on the code block. Fuzz seed 101 found 43 such mutants (flip_pixels of HTJ2K seeds)."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(TEST_DATA / "u8_mono__htj2k_lossless.dcm")
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    frame[frame.index(b"\xff\x93") + 2] ^= 0xFF
    ds.PixelData = encapsulate([bytes(frame)])
    path = tmp_path / "htj2k_corrupt_code_block.dcm"
    ds.save_as(path)
    return path, bytes(frame)


@pytest.mark.needs_handler("imagecodecs")
def test_htj2k_error_openjph_swallows_is_raised(tmp_path):
    """imagecodecs' OpenJPH binding prints OpenJPH's exception ('Exception ignored in
    _htj2k._copy_from_codestream') and returns the array unfilled: an all-zero 'image'.
    The handler must raise instead, and say which codec failed."""
    path, _ = _htj2k_with_corrupt_code_block(tmp_path)
    hook = sys.unraisablehook
    with pytest.raises(DecodeError) as info:
        decode_file(path, handlers="imagecodecs")
    assert str(path) in str(info.value)
    assert "HTJ2K failed on frame 0" in str(info.value)
    assert sys.unraisablehook is hook  # the watch is undone after the decode
    with pytest.raises(DecodeError):  # and with every handler: no one invents pixels
        decode_file(path)


@pytest.mark.needs_handler("imagecodecs")
def test_swallowed_codec_errors_are_told_apart_per_thread(tmp_path):
    """A series decodes on threads: the corrupt frame's error belongs to its own thread,
    the good frame decoding at the same time is unaffected (its pixels = the original)."""
    import threading

    import imagecodecs
    from pydicom.encaps import generate_frames

    from dicomdecode.decode.handlers.unraisable import reported_errors

    _, bad = _htj2k_with_corrupt_code_block(tmp_path)
    good_ds = pydicom.dcmread(TEST_DATA / "u8_mono__htj2k_lossless.dcm")
    good = next(generate_frames(good_ds.PixelData, number_of_frames=1))
    original = pydicom.dcmread(TEST_DATA / "u8_mono__explicit_le.dcm").pixel_array
    barrier = threading.Barrier(2)
    seen: dict[str, tuple[int, bool]] = {}

    def decode(name: str, stream: bytes) -> None:
        barrier.wait()
        with reported_errors("imagecodecs.") as caught:
            for _ in range(20):
                array = imagecodecs.htj2k_decode(stream)
        seen[name] = (len(caught), bool(np.array_equal(array, original)))

    threads = [threading.Thread(target=decode, args=a) for a in (("bad", bad), ("good", good))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["good"] == (0, True)
    assert seen["bad"][0] == 20 and not seen["bad"][1]


def _stack_by_instance_number(paths):
    """The independent reference: pydicom's pixels, stacked in Instance Number order."""
    datasets = sorted((pydicom.dcmread(p) for p in paths), key=lambda d: int(d.InstanceNumber))
    return np.stack([d.pixel_array for d in datasets])


def test_series_with_a_slice_missing_its_position_loads_unpositioned(tmp_path):
    """One slice of a classic series without Image Position (Patient): the scan orders
    the series by Instance Number (it does whenever any slice lacks it) and load used to
    fit an affine anyway and fail inside numpy (fuzz seed 201, a flipped tag). It now
    loads in Instance Number order, warning which slice lacks its position."""
    from dicomdecode import load

    paths = []
    for source in sorted((TEST_DATA / "series").glob("A_*.dcm")):
        ds = pydicom.dcmread(source)
        if ds.InstanceNumber == 5:  # not the first in any order
            del ds.ImagePositionPatient
        paths.append(tmp_path / source.name)
        ds.save_as(paths[-1])
    volumes = load(paths, workers=1, rescale=False)
    assert len(volumes) == 1
    assert any("no Image Position/Orientation (Patient) on 1 of 12 slices" in w
               for w in volumes[0].warnings), volumes[0].warnings
    np.testing.assert_array_equal(volumes[0].array, _stack_by_instance_number(paths))


@pytest.mark.needs_handler("imagecodecs")
def test_enhanced_frame_missing_its_position_still_loads_every_frame(tmp_path):
    """The fuzz mutant itself, rebuilt: frame 2 of test_data's 3-frame enhanced file
    loses Image Position (Patient) from its Plane Position Sequence. The scan splits that
    frame off; every frame is loaded exactly once, equal to pydicom's, the unpositioned
    one with the warning."""
    from dicomdecode import load

    ds = pydicom.dcmread(TEST_DATA / "u16_mf3__jpeg_lossless_sv1.dcm")
    del ds.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0].ImagePositionPatient
    path = tmp_path / "mf3_no_position_frame2.dcm"
    ds.save_as(path)
    volumes = load([path], workers=1, rescale=False)
    reference = pydicom.dcmread(path).pixel_array
    loaded = [s for v in volumes for s in v.array]
    assert len(loaded) == len(reference)
    for frame in reference:
        assert sum(np.array_equal(frame, s) for s in loaded) == 1
    unpositioned = [v for v in volumes if any("no Image Position" in w for w in v.warnings)]
    assert len(unpositioned) == 1 and unpositioned[0].array.shape[0] == 1
    np.testing.assert_array_equal(unpositioned[0].array[0], reference[1])
