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
from tests.remote_servers import OrthancServer, series_files, start_or_skip

pytestmark = [pytest.mark.corpus, pytest.mark.needs_handler("imagecodecs")]

TS, ENH = "dcm_qa_ts/In", "dcm_qa_enh/In/Siemens/XA10"


@pytest.fixture(scope="module")
def orthanc(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = start_or_skip(lambda: OrthancServer(tmp_path_factory.mktemp("orthanc")),
                           "Orthanc with the DICOMweb plugin")
    server.upload([*series_files(corpus / TS), *series_files(corpus / ENH)])
    yield server
    server.stop()


def _url(server: Any, folder: Path) -> str:
    first = dicomdecode.scan(folder).series[0]
    return f"dicomweb+{server.root}/studies/{first.study_uid}/series/{first.series_uid}"


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
        np.testing.assert_array_equal(r.affine, ref.affine)
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
