"""The restructured scan stage: structured skips, old indexes, private creators, the
flavour factory, named split rules, and SeriesInfo.shape against what load returns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

import dicomdecode
from dicomdecode.read.private import private_block, private_tag, private_value
from dicomdecode.scan import ScanResult, SeriesInfo, Skipped, scan
from dicomdecode.scan.flavours import Header, flavour_of, images_from_header, philips, vendor_of
from dicomdecode.scan.grouping import SPLIT_RULES, split_key
from dicomdecode.series import BENIGN_KINDS, SKIP_KINDS, Skip

from .conftest import ROOT

PHILIPS = "Philips MR Imaging DD 001"


def _testfile(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, name
    return str(path)


# --------------------------------------------------------------------------- skips


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """One of each skip kind next to one good image."""
    shutil.copy(_testfile("CT_small.dcm"), tmp_path / "ct.dcm")
    shutil.copy(_testfile("CT_small.dcm"), tmp_path / "ct_copy.dcm")  # byte-identical
    shutil.copy(_testfile("DICOMDIR"), tmp_path / "DICOMDIR")
    shutil.copy(_testfile("test-SR.dcm"), tmp_path / "sr.dcm")
    (tmp_path / "notes.txt").write_text("not an image\n")
    data = Path(_testfile("MR_small.dcm")).read_bytes()
    cut = data.find(b"\xe0\x7f\x10\x00")  # (7FE0,0010) Pixel Data, little endian
    assert cut > 0
    (tmp_path / "truncated.dcm").write_bytes(data[:cut])
    (tmp_path / "truncated_header.dcm").write_bytes(data[: cut // 2])
    return tmp_path


def test_every_skip_has_a_structured_kind(mixed_folder: Path) -> None:
    result = scan(mixed_folder)
    kinds = {Path(s.path).name: s.kind for s in result.skipped}
    assert kinds == {"ct_copy.dcm": "duplicate", "DICOMDIR": "dicomdir",
                     "sr.dcm": "no_pixel_data", "notes.txt": "not_dicom",
                     "truncated.dcm": "truncated", "truncated_header.dcm": "truncated"}
    benign = {Path(s.path).name: s.benign for s in result.skipped}
    assert benign == {"ct_copy.dcm": True, "DICOMDIR": True, "sr.dcm": True,
                      "notes.txt": True, "truncated.dcm": False,
                      "truncated_header.dcm": False}
    (dup,) = [s for s in result.skipped if s.kind == "duplicate"]
    assert dup.duplicate_of == str(mixed_folder / "ct.dcm")
    assert [s.files for s in result.series] == [[str(mixed_folder / "ct.dcm")]]
    for s in result.skipped:
        assert s.kind in SKIP_KINDS and s.detail and s.reason == s.detail


def test_skip_text_is_unchanged_for_old_readers(mixed_folder: Path) -> None:
    """``reason`` keeps the text convert and users saw before kinds existed."""
    reasons = {Path(s.path).name: s.reason for s in scan(mixed_folder).skipped}
    assert reasons["ct_copy.dcm"] == (f"duplicate of {mixed_folder / 'ct.dcm'} "
                                      "(same SOP Instance UID)")
    assert reasons["DICOMDIR"] == "DICOMDIR (a directory index, no image)"
    assert reasons["sr.dcm"].startswith("no pixel data (structured report")
    assert reasons["notes.txt"] == "not DICOM (no DICM prefix and no DICOM attributes)"
    assert reasons["truncated.dcm"] == "no pixel data element"
    assert reasons["truncated_header.dcm"].startswith("no pixel data (modality MR")


def test_not_a_file_and_unreadable(tmp_path: Path) -> None:
    missing = tmp_path / "gone.dcm"
    (skip,) = scan(str(missing)).skipped
    assert (skip.kind, skip.benign) == ("not_a_file", True)
    data = Path(_testfile("CT_small.dcm")).read_bytes()
    for cut in range(900, 1100, 7):  # header cuts, some inside an element pydicom unpacks
        (tmp_path / f"cut{cut}.dcm").write_bytes(data[:cut])
    skips = scan(tmp_path).skipped
    assert {s.kind for s in skips} <= {"unreadable", "truncated", "no_pixel_data"}
    assert "unreadable" in {s.kind for s in skips}
    assert all(not s.benign for s in skips if s.kind == "unreadable")


def test_skip_kinds_are_a_closed_set() -> None:
    assert BENIGN_KINDS < set(SKIP_KINDS)
    assert set(SKIP_KINDS) - BENIGN_KINDS == {"truncated", "unreadable"}
    with pytest.raises(ValueError, match="unknown skip kind"):
        Skip("whatever", "/x", "text")
    assert Skipped is Skip


def test_old_index_json_loads(mixed_folder: Path) -> None:
    """An index written before skips had a kind ({"path", "reason"}) still loads."""
    result = scan(mixed_folder)
    old = result.to_dict()
    old["skipped"] = [{"path": s.path, "reason": s.reason} for s in result.skipped]
    loaded = ScanResult.from_dict(json.loads(json.dumps(old)))
    assert [(s.kind, s.path, s.reason, s.duplicate_of) for s in loaded.skipped] == [
        (s.kind, s.path, s.reason, s.duplicate_of) for s in result.skipped]
    assert [s.to_dict() for s in loaded.series] == [s.to_dict() for s in result.series]
    # and today's form round-trips as it is
    assert ScanResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


@pytest.mark.parametrize(("reason", "kind"), [
    ("not a file or does not exist", "not_a_file"),
    ("not DICOM: File is missing DICOM File Meta Information", "not_dicom"),
    ("DICOMDIR (a directory index, no image)", "dicomdir"),
    ("no pixel data (modality SR, SOP class 1.2.840.10008.5.1.4.1.1.88.11)", "no_pixel_data"),
    ("no pixel data element", "truncated"),
    ("no pixel data (modality CT, SOP class 1.2.840.10008.5.1.4.1.1.2)", "truncated"),
    ("unreadable DICOM header: EOFError: ...", "unreadable"),
    ("unusable image header: ValueError: ...", "unreadable"),
])
def test_old_reason_texts_map_to_kinds(reason: str, kind: str) -> None:
    skip = Skip.from_dict({"path": "/a.dcm", "reason": reason})
    assert (skip.kind, skip.reason) == (kind, reason)


# --------------------------------------------------------------------------- private tags


def _philips_dataset(block: int, slope: float, other_at_0010: bool = True) -> Dataset:
    ds = Dataset()
    ds.Manufacturer = "Philips Medical Systems"
    if other_at_0010:
        ds.add_new((0x2005, 0x0010), "LO", "SOME OTHER CREATOR")
        ds.add_new((0x2005, 0x100E), "FL", 99.0)  # the other creator's element 0x0E
    ds.add_new((0x2005, block), "LO", PHILIPS)
    ds.add_new((0x2005, (block << 8) | 0x0E), "FL", slope)
    return ds


def test_private_value_follows_the_private_creator() -> None:
    ds = _philips_dataset(0x11, 2.5)
    assert private_block(ds, 0x2005, PHILIPS) == 0x11
    assert private_tag(ds, 0x2005, PHILIPS, 0x0E) == (0x2005, 0x110E)
    assert private_value(ds, 0x2005, PHILIPS, 0x0E) == pytest.approx(2.5)
    assert philips.scale_slope(ds) == pytest.approx(2.5)


def test_another_creators_block_is_not_misread() -> None:
    ds = Dataset()
    ds.add_new((0x2005, 0x0010), "LO", "SOME OTHER CREATOR")
    ds.add_new((0x2005, 0x100E), "FL", 99.0)
    assert private_value(ds, 0x2005, PHILIPS, 0x0E) is None
    assert private_value(ds, 0x2005, PHILIPS, 0x0E, default=1.0) == 1.0
    assert philips.scale_slope(ds) is None
    with pytest.raises(ValueError):
        private_value(ds, 0x0008, PHILIPS, 0x0E)  # an even group has no creators


def test_nested_items_use_their_own_creators_or_the_enclosing_ones() -> None:
    item = Dataset()
    item.add_new((0x2005, 0x0012), "LO", PHILIPS)
    item.add_new((0x2005, 0x120E), "FL", 3.0)
    group = Dataset()
    group.add_new((0x2005, 0x140F), "SQ", Sequence([item]))
    assert philips.nested_scale_slope([group], outer_block=0x10) == pytest.approx(3.0)
    bare = Dataset()  # an item that reserves nothing: the enclosing block applies
    bare.add_new((0x2005, 0x110E), "FL", 4.0)
    group2 = Dataset()
    group2.add_new((0x2005, 0x140F), "SQ", Sequence([bare]))
    assert philips.nested_scale_slope([group2], outer_block=0x11) == pytest.approx(4.0)
    assert philips.nested_scale_slope([group2], outer_block=None) is None


def _write_mr(path: Path, ds_extra: Dataset, z: float = 0.0) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.3.4"
    ds.Modality, ds.SeriesNumber = "MR", 1
    ds.ImagePositionPatient = [0.0, 0.0, z]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [1.0, 1.0]
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.RescaleSlope, ds.RescaleIntercept = 2.0, 0.0
    for elem in ds_extra:
        ds.add(elem)
    ds.PixelData = np.arange(16, dtype="<u2").tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_scan_reads_the_philips_slope_from_a_moved_block(tmp_path: Path) -> None:
    _write_mr(tmp_path / "moved.dcm", _philips_dataset(0x11, 2.5))
    _write_mr(tmp_path / "other.dcm", _philips_dataset(0x11, 2.5, other_at_0010=True), z=1.0)
    plain = Dataset()  # Philips, with only another creator's element at (2005,100E)
    plain.Manufacturer = "Philips"
    plain.add_new((0x2005, 0x0010), "LO", "SOME OTHER CREATOR")
    plain.add_new((0x2005, 0x100E), "FL", 99.0)
    _write_mr(tmp_path / "plain.dcm", plain, z=2.0)
    (series,) = scan(tmp_path).series
    slopes = {Path(im.path).name: im.private_scale_slope for im in series.images}
    assert slopes == {"moved.dcm": pytest.approx(2.5), "other.dcm": pytest.approx(2.5),
                      "plain.dcm": None}


# --------------------------------------------------------------------------- flavours, rules


def test_vendor_is_worked_out_once_and_case_insensitively() -> None:
    for text, vendor in (("Philips Medical Systems", "philips"), ("PHILIPS", "philips"),
                         ("SIEMENS", "siemens"), ("GE MEDICAL SYSTEMS", "ge"),
                         ("UIH", "uih"), ("Acme", ""), ("", "")):
        ds = Dataset()
        ds.Manufacturer = text
        assert vendor_of(ds) == vendor, text


def test_flavour_is_recognised_once() -> None:
    ds = pydicom.dcmread(_testfile("CT_small.dcm"))
    header = Header.of(ds, "ct.dcm")
    assert flavour_of(header)[0] == "classic"
    assert header.vendor == "ge"
    ds.PerFrameFunctionalGroupsSequence = Sequence([Dataset()])
    assert flavour_of(Header.of(ds, "e.dcm"))[0] == "enhanced"
    dose = pydicom.dcmread(_testfile("rtdose.dcm"))
    kind, offsets = flavour_of(Header.of(dose, "d.dcm"))
    assert kind == "rtdose" and len(offsets) == int(dose.NumberOfFrames)


def test_split_rules_are_named_and_make_the_key() -> None:
    names = [name for name, _ in SPLIT_RULES]
    assert names == ["size", "pixel spacing", "localizer", "echo", "stack", "image type",
                     "mosaic", "multi-frame file without geometry"]
    ds = pydicom.dcmread(_testfile("CT_small.dcm"))
    (im,) = images_from_header(ds, "ct.dcm")
    assert split_key(im) == (128, 128, 1, 16, 1, (0.6615, 0.6615), False, None, None, None,
                             (), 0, None, None)


# --------------------------------------------------------------------------- shape


def _check_shapes(root: Path) -> int:
    result = scan(root)
    checked = 0
    for series in result.series:
        volume = dicomdecode.load_series(series)
        assert series.shape == volume.array.shape, (series.uid, series.kind, series.files[:2])
        checked += 1
    return checked


@pytest.mark.parametrize("folder", ["dcm_qa_mosaic", "dcm_qa_enh", "dcm_qa_nih", "dcm_qa_uih",
                                    "dcm_qa_philips"])
def test_shape_is_what_load_returns(corpus: Path, folder: str) -> None:
    assert _check_shapes(corpus / folder) > 0


def test_shape_of_test_data_colour_and_multiframe(tmp_path: Path) -> None:
    for name in ("rgb8_mf2__explicit_le.dcm", "rgb8__explicit_le.dcm"):
        shutil.copy(ROOT / "test_data" / name, tmp_path / name)
    assert _check_shapes(tmp_path) >= 1
    shapes = sorted(s.shape for s in scan(tmp_path).series)
    assert all(shape[-1] == 3 for shape in shapes)


def test_mosaic_shape_counts_tiles(corpus: Path) -> None:
    (series,) = scan(corpus / "dcm_qa_mosaic").series
    im = series.images[0]
    assert series.kind == "mosaic" and im.mosaic_tile is not None
    assert series.shape == (series.n_volumes, im.mosaic_slices, *im.mosaic_tile)
    uih = [s for s in scan(corpus / "dcm_qa_uih").series if s.kind == "vframe"]
    assert uih, "the UIH VFRAME series is found through its private creator"


def test_cli_scan_prints_the_loaded_shape(corpus: Path) -> None:
    src = corpus / "dcm_qa_mosaic"
    (series,) = scan(src).series
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-m", "dicomdecode.apps.cli", "scan", str(src)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "x".join(str(n) for n in series.shape) in out.stdout


def test_series_info_shape_without_volume_axis() -> None:
    from dicomdecode.series import ImageRef

    im = ImageRef(path="a", frame=0, sop_instance_uid="1", position=None, orientation=None,
                  rows=3, columns=5, transfer_syntax="", samples_per_pixel=3)
    info = SeriesInfo(uid="u", study_uid="s", series_uid="u", series_number=1,
                      description="", modality="OT", images=[im, im])
    assert info.shape == (2, 3, 5, 3)
    info.n_volumes = 2
    assert info.shape == (2, 1, 3, 5, 3)


def test_image_ref_is_the_dataclass_record():
    """series.image_ref (the scan's fast constructor) makes the record ImageRef(**fields)
    makes: equal, same hash, same field order, still frozen; a missing or unknown field
    is the dataclass's own TypeError."""
    import dataclasses
    import pickle

    from dicomdecode.series import ImageRef, image_ref

    fields = dict(path="a.dcm", frame=0, sop_instance_uid="1.2", position=(1.0, 2.0, 3.0),
                  orientation=None, rows=64, columns=64, transfer_syntax="1.2.840.10008.1.2.1",
                  slope=2.0, image_type=("ORIGINAL",), pixel_offset=1234)
    made, expected = image_ref(dict(fields)), ImageRef(**fields)
    assert made == expected and hash(made) == hash(expected)
    assert list(vars(made)) == list(vars(expected))
    assert dataclasses.asdict(made) == dataclasses.asdict(expected)
    assert pickle.loads(pickle.dumps(made)) == expected
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.rows = 3  # type: ignore[misc]
    with pytest.raises(TypeError, match="bogus"):
        image_ref({**fields, "bogus": 1})
    with pytest.raises(TypeError, match="rows"):
        image_ref({k: v for k, v in fields.items() if k != "rows"})
