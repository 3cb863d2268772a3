"""convert of an ``s3://`` prefix on a Dask LocalCluster: the workers fetch their series'
objects themselves (no shared folder; the client reads headers only), and the outputs
equal the local run's on the same files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.remote_servers import (
    CREDENTIALS,
    OrthancServer,
    S3Server,
    series_files,
    start_or_skip,
    storage_options,
)

pytestmark = [pytest.mark.dask, pytest.mark.corpus]

ROOT = Path(__file__).resolve().parents[1]


def _outputs(folder: Path) -> dict[str, Any]:
    import nibabel as nib

    out: dict[str, Any] = {}
    for p in sorted(folder.glob("*.nii*")):
        out[p.name] = np.asarray(nib.load(p).dataobj)
    for p in sorted(folder.glob("*.json")):
        data = json.loads(p.read_text())
        for s in data.get("slices", []) if isinstance(data, dict) else []:
            s.pop("path", None)  # provenance: the URL where the local run has the path
        out[p.name] = data
    return out


def test_cluster_converts_an_s3_prefix_like_the_local_run(corpus: Path, tmp_path: Path) -> None:
    import dask
    import distributed

    from dicomdecode.apps.convert import convert

    server = start_or_skip(S3Server, "the moto S3 server")
    try:
        src = corpus / "dcm_qa_ts/In"
        server.upload("dicom", {f"ts/{p.name}": p for p in series_files(src)})
        local = convert(src, tmp_path / "local", progress=False)
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        os.environ["PYTHONPATH"] = path
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
                distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            report = convert("s3://dicom/ts/", tmp_path / "remote", progress=False,
                             client=client, storage_options=storage_options(server.endpoint),
                             report_path=tmp_path / "report.json")
    finally:
        server.stop()
    assert report.counts == local.counts and report.counts["converted"] == 9
    assert {f.path for f in report.files} == {f"s3://dicom/ts/{i}.dcm" for i in range(1, 10)}
    a, b = _outputs(tmp_path / "remote"), _outputs(tmp_path / "local")
    assert a.keys() == b.keys() and len(a) >= 18
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert a[key] == b[key], key
    assert CREDENTIALS["secret"] not in (tmp_path / "report.json").read_text()


def test_cluster_converts_a_dicomweb_series_like_the_local_run(corpus: Path,
                                                               tmp_path: Path) -> None:
    """Workers are handed DICOMweb instance URLs and fetch metadata and frames themselves
    from a real Orthanc (equal up to Orthanc's JSON rendering of a DS of "1e-016" as 0)."""
    import math

    import dask
    import distributed

    import dicomdecode
    from dicomdecode.apps.convert import convert

    def close(a: Any, b: Any) -> bool:
        if isinstance(a, float | int) and isinstance(b, float | int):
            return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
        if isinstance(a, list) and isinstance(b, list):
            return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
        return bool(a == b)

    src = corpus / "dcm_qa_ts/In"
    server = start_or_skip(lambda: OrthancServer(tmp_path / "orthanc"),
                           "Orthanc with the DICOMweb plugin")
    try:
        server.upload(list(series_files(src)))
        first = dicomdecode.scan(src).series[0]
        url = f"dicomweb+{server.root}/studies/{first.study_uid}/series/{first.series_uid}"
        local = convert(src, tmp_path / "local", progress=False)
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        os.environ["PYTHONPATH"] = path
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}), \
                distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                         dashboard_address=None) as cluster, \
                distributed.Client(cluster) as client:
            report = convert(url, tmp_path / "remote", progress=False, client=client)
    finally:
        server.stop()
    assert report.counts == local.counts and report.counts["converted"] == 9
    assert all("/instances/" in f.path for f in report.files)
    a, b = _outputs(tmp_path / "remote"), _outputs(tmp_path / "local")
    assert a.keys() == b.keys() and len(a) >= 18
    for key in a:
        if isinstance(a[key], np.ndarray):
            np.testing.assert_array_equal(a[key], b[key])
        else:
            assert close(a[key], b[key]), key
