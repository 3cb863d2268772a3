"""Load, scan, decode, SliceDataset and convert straight from an S3 server (moto in
server mode on loopback, a real HTTP server), compared with the same files read locally
(the independent reference: the local road every other test checks against dcm2niix,
pydicom and the uncompressed originals). Faults come from a real proxy in front of it."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dicomdecode
from tests.remote_servers import (
    CREDENTIALS,
    FaultProxy,
    S3Server,
    series_files,
    start_or_skip,
    storage_options,
)

#: the six syntaxes need a full decoder set: the main `tests` session, where the servers'
#: libraries (the `remote` extra, moto in `test`) are installed too
pytestmark = [pytest.mark.corpus, pytest.mark.needs_handler("imagecodecs")]

#: six transfer syntaxes (explicit, implicit, big endian, RLE, JPEG lossless, JPEG-LS,
#: JPEG 2000) of one image, and one enhanced multi-frame series
SETS = {"ts": "dcm_qa_ts/In", "enh": "dcm_qa_enh/In/Siemens/XA10"}


@pytest.fixture(scope="module")
def s3(corpus: Path) -> Any:
    server = start_or_skip(S3Server, "the moto S3 server")
    files = {f"{name}/{p.relative_to(corpus / sub)}": p
             for name, sub in SETS.items() for p in series_files(corpus / sub)}
    server.upload("dicom", files)
    yield server
    server.stop()


def _load(src: str | Path, **kw: Any) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dicomdecode.load(src, **kw)


def _same_volumes(remote: list[Any], local: list[Any]) -> None:
    assert len(remote) == len(local) and local
    for r, ref in zip(remote, local, strict=True):
        assert r.array.dtype == ref.array.dtype
        np.testing.assert_array_equal(r.array, ref.array)
        np.testing.assert_array_equal(r.affine, ref.affine)
        assert [s.sop_instance_uid for s in r.slices] == [s.sop_instance_uid for s in ref.slices]
        assert [s.transfer_syntax for s in r.slices] == [s.transfer_syntax for s in ref.slices]
        skip = {"SkippedFiles", "FailedSeries"}
        assert {k: v for k, v in r.meta.items() if k not in skip} == \
               {k: v for k, v in ref.meta.items() if k not in skip}


@pytest.mark.parametrize("name", sorted(SETS))
def test_load_from_s3_equals_local(s3: Any, corpus: Path, name: str,
                                   caplog: pytest.LogCaptureFixture) -> None:
    local = _load(corpus / SETS[name])
    with caplog.at_level(logging.INFO, logger="dicomdecode"):
        remote = _load(f"s3://dicom/{name}/", storage_options=storage_options(s3.endpoint))
    _same_volumes(remote, local)
    assert remote[0].slices[0].path.startswith(f"s3://dicom/{name}/")
    assert "remote:" in caplog.text and CREDENTIALS["secret"] not in caplog.text
    if name == "ts":  # six syntaxes really went over the wire
        assert len({s.transfer_syntax for v in remote for s in v.slices}) >= 6


def test_decode_one_object(s3: Any, corpus: Path) -> None:
    for f in ("7.dcm", "9.dcm"):
        local = dicomdecode.decode(corpus / SETS["ts"] / f)
        remote = dicomdecode.decode(f"s3://dicom/ts/{f}",
                                    storage_options=storage_options(s3.endpoint))
        np.testing.assert_array_equal(remote.array, local.array)
        assert remote.path == f"s3://dicom/ts/{f}"


def test_environment_endpoint(s3: Any, corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No storage_options: the standard chain (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["secret"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import fsspec

    fsspec.config.conf.pop("s3", None)
    _same_volumes(_load("s3://dicom/enh/", storage_options={"skip_instance_cache": True}),
                  _load(corpus / SETS["enh"]))


def test_scan_fetches_headers_only(s3: Any, corpus: Path) -> None:
    result = dicomdecode.scan("s3://dicom/ts/", storage_options=storage_options(s3.endpoint))
    local = dicomdecode.scan(corpus / SETS["ts"])
    assert [len(s.images) for s in result.series] == [len(s.images) for s in local.series]
    assert result.staging.transfer["bytes"] < sum(p.stat().st_size
                                                  for p in series_files(corpus / SETS["ts"]))
    # the series loads later from the same result (its pixels fetched then)
    vol = dicomdecode.load_series(result.series[0])
    ref = dicomdecode.load_series(local.series[0])
    np.testing.assert_array_equal(vol.array, ref.array)


def _nifti_and_sidecars(folder: Path) -> dict[str, Any]:
    import nibabel as nib

    out: dict[str, Any] = {}
    for p in sorted(folder.glob("*.nii*")):
        out[p.name] = np.asarray(nib.load(p).dataobj)
    for p in sorted(folder.glob("*.json")):
        out[p.name] = json.loads(p.read_text())
    return out


def test_convert_from_s3_equals_local(s3: Any, corpus: Path, tmp_path: Path) -> None:
    from dicomdecode.apps.convert import convert

    local = convert(corpus / SETS["ts"], tmp_path / "local", progress=False)
    report = tmp_path / "report.json"
    remote = convert("s3://dicom/ts/", tmp_path / "remote", progress=False,
                     report_path=report, storage_options=storage_options(s3.endpoint))
    assert remote.counts == local.counts and remote.counts["converted"] == 9
    a, b = _nifti_and_sidecars(tmp_path / "remote"), _nifti_and_sidecars(tmp_path / "local")
    assert a.keys() == b.keys() and len(a) >= 18
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        elif key.endswith("_slices.json"):  # provenance: the URL where the path was
            paths = [s.pop("path") for s in a[key]["slices"]]
            assert all(p.startswith("s3://dicom/ts/") for p in paths)
            for s in b[key]["slices"]:
                s.pop("path")
            assert a[key] == b[key], key
        else:
            assert a[key] == b[key], key
    text = report.read_text()
    assert CREDENTIALS["secret"] not in text and CREDENTIALS["key"] not in text
    data = json.loads(text)
    assert data["transfer"]["bytes"] >= sum(p.stat().st_size
                                            for p in series_files(corpus / SETS["ts"]))
    assert {f["path"] for f in data["files"]} == {f"s3://dicom/ts/{i}.dcm" for i in range(1, 10)}


def test_slice_dataset_from_s3_equals_local(s3: Any, corpus: Path) -> None:
    from dicomdecode.ml import SliceDataset

    local = SliceDataset(str(corpus / SETS["enh"]))
    remote = SliceDataset("s3://dicom/enh/", storage_options=storage_options(s3.endpoint))
    assert len(remote) == len(local) > 1
    for i in range(len(local)):
        np.testing.assert_array_equal(remote[i]["image"], local[i]["image"])
        assert remote[i]["slope"] == local[i]["slope"]


def test_every_third_request_failing_still_gives_everything(s3: Any, corpus: Path,
                                                            tmp_path: Path) -> None:
    proxy = FaultProxy(s3.port, every=3)
    try:
        remote = _load("s3://dicom/ts/", storage_options=storage_options(proxy.endpoint))
    finally:
        proxy.stop()
    assert proxy.failed > 3
    _same_volumes(remote, _load(corpus / SETS["ts"]))


def test_object_that_never_answers_fails_alone(s3: Any, corpus: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from dicomdecode.apps.convert import convert

    monkeypatch.setenv("DICOMDECODE_REMOTE_TIMEOUT", "1")
    monkeypatch.setenv("DICOMDECODE_REMOTE_RETRIES", "1")
    proxy = FaultProxy(s3.port, hang="/dicom/ts/5.dcm")
    try:
        report = convert("s3://dicom/ts/", tmp_path / "out", progress=False,
                         storage_options=storage_options(proxy.endpoint))
    finally:
        proxy.stop()
    by_path = {f.path: f for f in report.files}
    bad = by_path["s3://dicom/ts/5.dcm"]
    assert bad.status == "failed" and "fetch failed" in bad.reason
    assert CREDENTIALS["secret"] not in bad.reason
    assert sorted(p for p, f in by_path.items() if f.status == "converted") == \
        sorted(f"s3://dicom/ts/{i}.dcm" for i in range(1, 10) if i != 5)


def _thousand_objects(corpus: Path) -> dict[str, bytes]:
    """1,000 CT slices of 256 x 256 (a real GE CT header, its pixels cropped, a new SOP
    Instance UID and position per slice), as Part 10 bytes."""
    import io

    import pydicom
    from pydicom.uid import generate_uid

    first = sorted((corpus / "dcm_qa_ct/In/GE").iterdir())[0]
    ds = pydicom.dcmread(first)
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress()
    pixels = ds.pixel_array[:256, :256].copy()
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelData = pixels.tobytes()
    series = generate_uid()
    out: dict[str, bytes] = {}
    for i in range(1000):
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.ImagePositionPatient = [0.0, 0.0, float(i)]
        ds.InstanceNumber = i + 1
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        out[f"many/{i:04d}.dcm"] = buffer.getvalue()
    return out


def test_scan_of_1000_objects_reads_little(s3: Any, corpus: Path) -> None:
    objects = _thousand_objects(corpus)
    s3.upload("many", objects)
    result = dicomdecode.scan("s3://many/many/", storage_options=storage_options(s3.endpoint))
    assert [len(s.images) for s in result.series] == [1000] and not result.skipped
    total = sum(len(b) for b in objects.values())
    assert result.staging.transfer["bytes"] < 0.15 * total


def test_cache_serves_a_second_epoch(s3: Any, corpus: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DICOMDECODE_REMOTE_CACHE", str(tmp_path / "cache"))
    options = storage_options(s3.endpoint)
    first = _load("s3://dicom/enh/", storage_options=options)
    again = dicomdecode.scan("s3://dicom/enh/", storage_options=options)
    assert again.staging.transfer["bytes"] == 0  # only the listing went over the wire
    _same_volumes([dicomdecode.load_series(again.series[0])], first)
    _same_volumes(first, _load(corpus / SETS["enh"]))


def test_errors_name_the_url_never_the_credentials(s3: Any) -> None:
    options = storage_options(s3.endpoint)
    with pytest.raises(FileNotFoundError) as info:
        dicomdecode.load("s3://no-such-bucket/prefix/", storage_options=options)
    text = str(info.value)
    assert "s3://no-such-bucket/prefix" in text
    assert CREDENTIALS["secret"] not in text and CREDENTIALS["key"] not in text
