"""Instances of a PACS over DICOMweb, through dicomweb-client (the field's Python client).

URL form: ``dicomweb+http://host:port/root/studies/{study}[/series/{series}]`` (or
``dicomweb+https://``). What moves, and when:

* **scan**: QIDO-RS lists the instances (one request), WADO-RS *metadata* gives every
  series' headers as JSON (one request per series; no pixels). Each instance's header is
  rebuilt from it (:mod:`~dicomdecode.read.sources.dicomweb_header`) and written as a
  local file whose Pixel Data is a placeholder, so the scan, the guard and the decoders
  read it as they read any file (the same seam as an in-memory pydicom dataset: a
  dataset written to the staging folder). Non-pixel bulk data (vendor private headers
  such as Siemens CSA) is fetched by its bulk-data URI, because the sidecar reads it.
  The stored transfer syntax comes from the metadata (0002,0010)/(0008,3002) where the
  server gives it, else from the first bytes of the instance stream (a few KiB; the
  connection is then closed).
* **pixels** (when a load, convert or data set needs them): WADO-RS *frames* asking for
  ``transfer-syntax=*``, so the server sends the frames as it stores them (compressed
  frames stay compressed; our handlers decode them). Where the server refuses, or
  answers in another syntax, the whole instance is fetched instead (``transfer-syntax=*``
  too) and its Pixel Data value is used.

Objects whose syntax the rebuilt header cannot carry (deflated, big endian) or whose
metadata is missing are fetched whole at scan time, as before."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from dicomdecode.read.sources.base import Transfer
from dicomdecode.read.sources.dicomweb_http import client_for, get
from dicomdecode.read.sources.redact import redact
from dicomdecode.read.sources.retry import RemoteReadError, counted

_PATH = re.compile(r"^(?P<root>.*?)/studies/(?P<study>[0-9.]+)"
                   r"(?:/series/(?P<series>[0-9.]+)(?:/instances/(?P<sop>[0-9.]+))?)?/?$")
_STUDY, _SERIES, _SOP = "0020000D", "0020000E", "00080018"
_JSON = "application/dicom+json"


@dataclass(frozen=True)
class DicomwebTarget:
    """What a ``dicomweb+http(s)://`` URL names: the service root and a study[/series
    [/instance]] (one instance is what a Dask worker is handed)."""

    root: str
    study: str
    series: str | None
    sop: str | None = None


def is_dicomweb(url: str) -> bool:
    return url.lower().startswith(("dicomweb+http://", "dicomweb+https://"))


def parse(url: str) -> DicomwebTarget:
    """The service root and UIDs of `url`; ValueError naming the expected form."""
    plain = url.split("+", 1)[1] if is_dicomweb(url) else url
    match = _PATH.match(plain.split("?", 1)[0])
    if not match:
        raise ValueError(f"{redact(url)}: expected dicomweb+http(s)://host/root/studies/"
                         "{study}[/series/{series}[/instances/{sop}]]")
    return DicomwebTarget(match["root"], match["study"], match["series"], match["sop"])


def _value(item: dict[str, Any], tag: str) -> str:
    values = (item.get(tag) or {}).get("Value") or [""]
    return str(values[0])


def fetch_json(client: Any, url: str, transfer: Transfer) -> Any:
    """A DICOM JSON answer, its bytes counted."""
    import json

    def request() -> bytes:
        return bytes(get(client, url, _JSON).content)

    body = counted(url, request, transfer, len)
    return json.loads(body) if body.strip() else []


def list_instances(url: str, options: dict[str, Any] | None,
                   transfer: Transfer) -> list[Any]:
    """The instances `url` names (QIDO-RS, one request; WADO-RS metadata, one request per
    series), in UID order."""
    from dicomdecode.read.sources.dicomweb_header import DicomwebInstance

    target = parse(url)
    client = client_for(target.root, options)

    def search() -> list[dict[str, Any]]:
        found = client.search_for_instances(study_instance_uid=target.study,
                                            series_instance_uid=target.series,
                                            search_filters={_SOP: target.sop}
                                            if target.sop else None)
        return [i for i in found if not target.sop or _value(i, _SOP) == target.sop]

    found = counted(url, search, transfer)
    if not found:
        raise FileNotFoundError(f"no instances at {redact(url)!r}")
    instances = {(_value(i, _STUDY) or target.study, _value(i, _SERIES), _value(i, _SOP))
                 for i in found}
    metadata: dict[str, dict[str, Any]] = {}
    for study, series in sorted({(st, se) for st, se, _ in instances}):
        series_url = f"{target.root}/studies/{study}/series/{series}" + (
            f"/instances/{target.sop}/metadata" if target.sop else "/metadata")
        try:
            items = fetch_json(client, series_url, transfer)
        except (RemoteReadError, ValueError):  # unreachable or not JSON
            continue  # these instances are fetched whole instead
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and _value(item, _SOP):
                metadata[_value(item, _SOP)] = item
    return [DicomwebInstance(client, target.root, st, se, sop, transfer, metadata.get(sop))
            for st, se, sop in sorted(instances)]


__all__ = ["DicomwebTarget", "fetch_json", "is_dicomweb", "list_instances", "parse"]
