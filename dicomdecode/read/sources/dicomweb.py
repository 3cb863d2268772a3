"""Instances of a PACS over DICOMweb, through dicomweb-client (the field's Python client).

URL form: ``dicomweb+http://host:port/root/studies/{study}[/series/{series}]`` (or
``dicomweb+https://``). QIDO-RS lists the instances (one request); each instance is
retrieved with WADO-RS as ``application/dicom; transfer-syntax=*``, so the server sends the
object as it stores it (compressed frames stay compressed; our handlers decode them) and
the result is the same as a local load of the same files.

Each instance is fetched WHOLE (WADO-RS has no ranged reads of an instance): a scan of a
DICOMweb URL therefore costs the instances' bytes, not just their headers."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from dicomdecode.read.sources.base import Transfer
from dicomdecode.read.sources.redact import redact
from dicomdecode.read.sources.retry import RemoteReadError, with_retries

_PATH = re.compile(r"^(?P<root>.*?)/studies/(?P<study>[0-9.]+)(?:/series/(?P<series>[0-9.]+))?/?$")
_STUDY, _SERIES, _SOP = "0020000D", "0020000E", "00080018"


@dataclass(frozen=True)
class DicomwebTarget:
    """What a ``dicomweb+http(s)://`` URL names: the service root and a study[/series]."""

    root: str
    study: str
    series: str | None


def is_dicomweb(url: str) -> bool:
    return url.lower().startswith(("dicomweb+http://", "dicomweb+https://"))


def parse(url: str) -> DicomwebTarget:
    """The service root and UIDs of `url`; ValueError naming the expected form."""
    plain = url.split("+", 1)[1] if is_dicomweb(url) else url
    match = _PATH.match(plain.split("?", 1)[0])
    if not match:
        raise ValueError(f"{redact(url)}: expected dicomweb+http(s)://host/root/studies/"
                         "{study}[/series/{series}]")
    return DicomwebTarget(match["root"], match["study"], match["series"])


def _client(root: str, options: dict[str, Any] | None) -> Any:
    try:
        from dicomweb_client.api import DICOMwebClient
    except ImportError as exc:
        raise ImportError(f"DICOMweb URLs need dicomweb-client ({exc}); "
                          "pip install 'dicomdecode[remote]'") from None
    return DICOMwebClient(url=root, **(options or {}))


def _value(item: dict[str, Any], tag: str) -> str:
    values = (item.get(tag) or {}).get("Value") or [""]
    return str(values[0])


class DicomwebInstance:
    """One instance, fetched whole on first use (then kept until :meth:`release`)."""

    whole_only = True

    def __init__(self, client: Any, root: str, study: str, series: str, sop: str,
                 transfer: Transfer) -> None:
        self.client = client
        self.study, self.series, self.sop = study, series, sop
        self.url = f"dicomweb+{root}/studies/{study}/series/{series}/instances/{sop}"
        self.transfer = transfer
        self._data: bytes | None = None

    @property
    def name(self) -> str:
        return redact(self.url)

    def _fetch(self) -> bytes:
        if self._data is None:
            def get() -> bytes:
                ds = self.client.retrieve_instance(
                    self.study, self.series, self.sop,
                    media_types=(("application/dicom", "*"),))
                buffer = io.BytesIO()
                ds.save_as(buffer, enforce_file_format=False)
                return buffer.getvalue()

            try:
                data, used = with_retries(self.url, get)
            except RemoteReadError as exc:
                self.transfer.failed(exc.attempts)
                raise
            self.transfer.add(len(data), retries=used)
            self._data = data
        return self._data

    def size(self) -> int:
        return len(self._fetch())

    def read(self, start: int, end: int) -> bytes:
        return self._fetch()[start:end]

    def release(self) -> None:
        self._data = None


def list_instances(url: str, options: dict[str, Any] | None,
                   transfer: Transfer) -> list[DicomwebInstance]:
    """The instances `url` names (QIDO-RS, one request), in UID order."""
    target = parse(url)
    client = _client(target.root, options)

    def search() -> list[dict[str, Any]]:
        return list(client.search_for_instances(study_instance_uid=target.study,
                                                series_instance_uid=target.series))

    try:
        found, used = with_retries(url, search)
    except RemoteReadError as exc:
        transfer.failed(exc.attempts)
        raise
    transfer.add(0, retries=used)
    if not found:
        raise FileNotFoundError(f"no instances at {redact(url)!r}")
    instances = {(_value(i, _STUDY) or target.study, _value(i, _SERIES), _value(i, _SOP))
                 for i in found}
    return [DicomwebInstance(client, target.root, st, se, sop, transfer)
            for st, se, sop in sorted(instances)]


__all__ = ["DicomwebInstance", "DicomwebTarget", "is_dicomweb", "list_instances", "parse"]
