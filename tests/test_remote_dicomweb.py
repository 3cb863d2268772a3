"""load, convert and SliceDataset over DICOMweb from a real Orthanc (with its DICOMweb
plugin, on loopback), compared with the same files read locally."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomdecode
from tests.remote_servers import FaultProxy, OrthancServer, series_files, start_or_skip

pytestmark = [pytest.mark.corpus, pytest.mark.needs_handler("imagecodecs")]

TS, ENH = "dcm_qa_ts/In", "dcm_qa_enh/In/Siemens/XA10"


@pytest.fixture(scope="module")
def orthanc(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = start_or_skip(lambda: OrthancServer(tmp_path_factory.mktemp("orthanc")),
                           "Orthanc with the DICOMweb plugin")
    server.upload([*series_files(corpus / TS), *series_files(corpus / ENH)])
    yield server
    server.stop()


def _url(server: Any, folder: Path, root: str | None = None) -> str:
    first = dicomdecode.scan(folder).series[0]
    return (f"dicomweb+{root or server.root}/studies/{first.study_uid}"
            f"/series/{first.series_uid}")


def _same(remote: list[Any], local: list[Any]) -> None:
    remote, local = sorted(remote, key=_key), sorted(local, key=_key)
    assert len(remote) == len(local) > 0
    for r, ref in zip(remote, local, strict=True):
        assert _key(r) == _key(ref)
        np.testing.assert_array_equal(r.array, ref.array)
        np.testing.assert_allclose(r.affine, ref.affine, rtol=0, atol=1e-12)


def _load(src: Any) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dicomdecode.load(src)


def _key(vol: Any) -> tuple[Any, ...]:
    return (vol.slices[0].transfer_syntax, vol.slices[0].sop_instance_uid, vol.array.shape)


@pytest.mark.parametrize("sub", [TS, ENH])
def test_dicomweb_load_equals_local(orthanc: Any, corpus: Path, sub: str) -> None:
    local = sorted(_load(corpus / sub), key=_key)
    url = _url(orthanc, corpus / sub)
    remote = sorted(_load(url), key=_key)
    assert len(remote) == len(local) > 0
    for r, ref in zip(remote, local, strict=True):
        assert _key(r) == _key(ref) and r.array.dtype == ref.array.dtype
        np.testing.assert_array_equal(r.array, ref.array)
        # Orthanc's DICOM JSON writes a DS of "1e-016" as 0 (the metadata the scan now
        # uses is the server's rendering of the header): equal to far below a micrometre
        np.testing.assert_allclose(r.affine, ref.affine, rtol=0, atol=1e-12)
        assert r.slices[0].path.startswith("dicomweb+http://127.0.0.1:")
    if sub == TS:  # the stored syntaxes came over the wire and our handlers decoded them
        assert len({s.transfer_syntax for v in remote for s in v.slices}) >= 6


def test_dicomweb_convert_equals_local(orthanc: Any, corpus: Path, tmp_path: Path) -> None:
    import nibabel as nib

    from dicomdecode.apps.convert import convert

    local = convert(corpus / TS, tmp_path / "local", progress=False)
    remote = convert(_url(orthanc, corpus / TS), tmp_path / "remote", progress=False)
    assert remote.counts == local.counts and remote.counts["converted"] == 9
    assert all(f.path.startswith("dicomweb+http://") for f in remote.files)
    # the stored (compressed) objects came over the wire, not a decompressed copy
    stored = sum(p.stat().st_size for p in series_files(corpus / TS))
    assert remote.transfer is not None and 0 < remote.transfer["bytes"] <= 1.1 * stored
    names = sorted(p.name for p in (tmp_path / "local").iterdir() if p.is_file())
    assert names == sorted(p.name for p in (tmp_path / "remote").iterdir() if p.is_file())
    for name in names:
        a, b = tmp_path / "remote" / name, tmp_path / "local" / name
        if name.endswith(".nii.gz"):
            np.testing.assert_array_equal(np.asarray(nib.load(a).dataobj),
                                          np.asarray(nib.load(b).dataobj))
        elif name.endswith(".json") and not name.endswith("_slices.json"):
            assert json.loads(a.read_text()) == json.loads(b.read_text()), name


def test_dicomweb_slice_dataset_equals_local(orthanc: Any, corpus: Path) -> None:
    from dicomdecode.ml import SliceDataset

    local = SliceDataset(str(corpus / ENH))
    remote = SliceDataset(_url(orthanc, corpus / ENH))
    assert len(remote) == len(local) > 1
    for i in range(len(local)):
        np.testing.assert_array_equal(remote[i]["image"], local[i]["image"])


def _close(a: Any, b: Any) -> bool:
    """Equal, floats to 1e-9 (Orthanc's JSON rounds a DS of "1e-016" to 0)."""
    import math

    if isinstance(a, float | int) and isinstance(b, float | int) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return bool(a == b)


_PER_FILE = ("path", "pixel_offset")  # where the bytes lie differs; nothing else may


@pytest.mark.parametrize("sub", [TS, ENH])
def test_dicomweb_scan_is_metadata_only_and_equals_local(orthanc: Any, corpus: Path,
                                                         sub: str) -> None:
    """The scan moves metadata (QIDO-RS, WADO-RS JSON, vendor bulk headers), never
    pixels, and finds the same series, images and metadata as the local scan."""
    import dataclasses

    import pydicom

    local = dicomdecode.scan(corpus / sub)
    remote = dicomdecode.scan(_url(orthanc, corpus / sub))
    try:
        assert remote.staging is not None and remote.staging.transfer is not None
        scanned = remote.staging.transfer["bytes"]
        by_sop = {im.sop_instance_uid: im.path for s in remote.series for im in s.images}
    finally:
        remote.staging.cleanup()
    files = list(series_files(corpus / sub))
    headers = [pydicom.dcmread(p) for p in files]
    pixels = {ds.SOPInstanceUID: len(ds.PixelData) for ds in headers}
    whole = {ds.SOPInstanceUID: p.stat().st_size for ds, p in zip(headers, files, strict=True)
             if ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian}
    header_bytes = sum(p.stat().st_size for p in files) - sum(pixels.values())
    # JSON is wordier than binary; the pixels of everything not fetched whole stayed home
    assert 0 < scanned <= 2 * header_bytes + sum(whole.values())
    if sub == TS:  # pixels outweigh headers here: the scan moved fewer bytes than them
        assert scanned < sum(whole.values()) + sum(v for k, v in pixels.items()
                                                   if k not in whole)
    assert set(by_sop) == set(pixels)
    assert sorted(s.uid for s in local.series) == sorted(s.uid for s in remote.series)
    for ref, got in sorted(((r, g) for r in local.series for g in remote.series
                            if r.uid == g.uid), key=lambda p: p[0].uid):
        assert _close(got.meta, ref.meta), ref.uid
        assert (got.kind, got.n_volumes, got.modality) == (ref.kind, ref.n_volumes, ref.modality)
        assert len(got.images) == len(ref.images)
        for a, b in zip(got.images, ref.images, strict=True):
            fa, fb = ({f.name: getattr(x, f.name) for f in dataclasses.fields(x)
                       if f.name not in _PER_FILE} for x in (a, b))
            assert _close(fa, fb), (a.sop_instance_uid, a.frame)


@pytest.mark.parametrize("sub", [TS, ENH])
def test_dicomweb_pixels_come_as_stored_frames(orthanc: Any, corpus: Path, sub: str,
                                               tmp_path: Path) -> None:
    """After the scan, the pixels come as WADO-RS frames in the STORED syntax (the
    compressed bytes, not a decompressed copy; big endian, which Orthanc cannot send as
    frames, falls back to the whole instance): bytes within 10% of the stored pixel data
    plus the whole instances."""
    import pydicom

    from dicomdecode.read.sources import dicomweb
    from dicomdecode.read.sources.mirror import Mirror, ensure_complete

    mirror = Mirror(str(tmp_path))
    sources = dicomweb.list_instances(_url(orthanc, corpus / sub), None, mirror.transfer)
    paths = mirror.add_all(sources)
    assert None not in paths and not mirror.failed
    after_scan = mirror.transfer.bytes
    assert ensure_complete([p for p in paths if p is not None]) == {}
    pixel_bytes = mirror.transfer.bytes - after_scan
    files = {pydicom.dcmread(p).SOPInstanceUID: p for p in series_files(corpus / sub)}
    stored = 0
    for source, path in zip(sources, paths, strict=True):
        ref = pydicom.dcmread(files[source.sop])
        got = pydicom.dcmread(str(path))
        assert got.file_meta.TransferSyntaxUID == ref.file_meta.TransferSyntaxUID
        np.testing.assert_array_equal(got.pixel_array, ref.pixel_array)
        if source.pixels_via == "frames":
            stored += len(ref.PixelData)
        elif ref.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian:
            assert source.pixels_via == "instance"  # fetched whole at scan time
        else:
            pytest.fail(f"{source.sop}: {source.pixels_via}, not frames")
    assert stored > 0 and abs(pixel_bytes - stored) <= 0.1 * stored
    uncompressed = sum(pydicom.dcmread(p).pixel_array.nbytes for p in files.values())
    if sub == TS:  # compressed frames came compressed
        assert pixel_bytes < 0.9 * uncompressed


def test_dicomweb_refused_frames_fall_back_to_whole_instances(orthanc: Any, corpus: Path,
                                                              tmp_path: Path) -> None:
    """A PACS that refuses frames (406, through a real proxy in front of Orthanc): every
    instance comes whole, in its stored syntax, and the load still equals the local one."""
    import pydicom

    from dicomdecode.read.sources import dicomweb
    from dicomdecode.read.sources.mirror import Mirror, ensure_complete

    proxy = FaultProxy(orthanc.port, refuse="/frames/")
    try:
        url = _url(orthanc, corpus / TS, f"{proxy.endpoint}/dicom-web")
        _same(_load(url), _load(corpus / TS))
        mirror = Mirror(str(tmp_path))
        sources = dicomweb.list_instances(url, None, mirror.transfer)
        paths = [p for p in mirror.add_all(sources) if p is not None]
        after_scan = mirror.transfer.bytes
        assert ensure_complete(paths) == {}
    finally:
        proxy.stop()
    assert {s.pixels_via for s in sources} == {"instance"}
    files = list(series_files(corpus / TS))
    big_endian = sum(p.stat().st_size for p in files if pydicom.dcmread(p).file_meta
                     .TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian)
    rest = sum(p.stat().st_size for p in files) - big_endian  # fetched whole after the scan
    assert abs(mirror.transfer.bytes - after_scan - rest) <= 0.1 * rest


def test_dicomweb_every_third_request_failing_still_gives_everything(
        orthanc: Any, corpus: Path) -> None:
    proxy = FaultProxy(orthanc.port, every=3)
    try:
        remote = _load(_url(orthanc, corpus / ENH, f"{proxy.endpoint}/dicom-web"))
    finally:
        proxy.stop()
    assert proxy.failed >= 3
    _same(remote, _load(corpus / ENH))


def test_dicomweb_instance_that_never_answers_fails_alone(
        orthanc: Any, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One instance whose frames (and whole object) never come: that file is failed with
    its URL, the other eight are converted."""
    import pydicom

    from dicomdecode.apps.convert import convert

    monkeypatch.setenv("DICOMDECODE_REMOTE_TIMEOUT", "1")
    monkeypatch.setenv("DICOMDECODE_REMOTE_RETRIES", "1")
    files = list(series_files(corpus / TS))
    victim = next(pydicom.dcmread(p) for p in files if pydicom.dcmread(p).file_meta
                  .TransferSyntaxUID == pydicom.uid.JPEGLSLossless).SOPInstanceUID
    proxy = FaultProxy(orthanc.port, hang=f"/instances/{victim}/frames", hang_any=True)
    try:
        report = convert(_url(orthanc, corpus / TS, f"{proxy.endpoint}/dicom-web"),
                         tmp_path / "out", progress=False)
    finally:
        proxy.stop()
    failed = [f for f in report.files if f.status == "failed"]
    assert len(failed) == 1 and failed[0].path.endswith(f"/instances/{victim}")
    assert "fetch failed" in failed[0].reason
    assert report.counts["converted"] == 8


def test_hostile_frame_count_in_metadata_is_refused_before_anything_is_allocated(
        tmp_path: Path) -> None:
    """Metadata claiming 2**31 frames: a typed error naming the instance URL, no file,
    no request (the stored syntax is in the metadata, so nothing is asked of a server)."""
    from dicomdecode.read.sources.base import Transfer
    from dicomdecode.read.sources.dicomweb_header import DicomwebInstance
    from dicomdecode.read.sources.retry import RemoteReadError

    metadata = {"00020010": {"vr": "UI", "Value": ["1.2.840.10008.1.2.4.70"]},
                "00080018": {"vr": "UI", "Value": ["1.2.3.4"]},
                "00280008": {"vr": "IS", "Value": [2**31]},
                "00280010": {"vr": "US", "Value": [512]},
                "00280011": {"vr": "US", "Value": [512]}}
    transfer = Transfer()
    instance = DicomwebInstance(None, "http://127.0.0.1:9/dicom-web", "1.2", "1.2.3",
                                "1.2.3.4", transfer, metadata)
    with pytest.raises(RemoteReadError, match="Number of Frames 2147483648") as info:
        instance.write_header(str(tmp_path / "x.dcm"))
    assert "/instances/1.2.3.4" in str(info.value)
    assert not (tmp_path / "x.dcm").exists() and transfer.requests == 0
