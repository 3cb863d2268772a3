"""One DICOMweb instance as a local file: its header rebuilt from WADO-RS metadata at
scan time, its pixels written in later from WADO-RS frames (or the whole instance).

The local file is a Part 10 file in the STORED transfer syntax whose bytes up to the
Pixel Data element never change after the scan (so the offsets the scan recorded stay
true); the Pixel Data value is a placeholder until :meth:`DicomwebInstance.complete_into`
writes the real one. pydicom builds the dataset from the JSON (``Dataset.from_json``)
and writes it: no second parser."""

from __future__ import annotations

import io
import struct
from typing import Any

from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.sources.base import Transfer
from dicomdecode.read.sources.dicomweb_http import Refused, get, multipart_parts
from dicomdecode.read.sources.redact import redact
from dicomdecode.read.sources.retry import RemoteReadError, counted

_PIXEL_TAG = b"\xe0\x7f\x10\x00"
_ITEM, _SEQ_END = b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_UNDEFINED = 0xFFFFFFFF
#: transfer syntaxes whose header pydicom writes as-is and whose pixels we splice in
_NATIVE = (ts.EXPLICIT_VR_LITTLE_ENDIAN, ts.IMPLICIT_VR_LITTLE_ENDIAN)
#: more frames than this in one instance's metadata is taken as hostile
MAX_FRAMES = 1 << 20
#: frames asked for in one request
_FRAMES_PER_REQUEST = 64
#: how much of the instance stream is read to learn its transfer syntax
_PROBE = 4096
_OTHER_PIXELS = ("7FE00008", "7FE00009")  # float / double float pixel data
_SERVER_ADDED = ("00081190",)  # Retrieve URL: the server's, not the object's


def _int(item: dict[str, Any], tag: str, default: int) -> int:
    try:
        return int((item.get(tag) or {}).get("Value", [default])[0])
    except (TypeError, ValueError, IndexError):
        return default


def _syntax_in(metadata: dict[str, Any]) -> str | None:
    for tag in ("00020010", "00083002"):
        values = (metadata.get(tag) or {}).get("Value") or []
        if values and isinstance(values[0], str):
            return values[0].strip()
    return None


def _syntax_of_prefix(data: bytes) -> str | None:
    """(0002,0010) from the first bytes of a Part 10 object (explicit VR little endian,
    as the file meta group always is)."""
    at = data.find(b"\x02\x00\x10\x00UI")
    if at < 0 or at + 8 > len(data):
        return None
    length = struct.unpack_from("<H", data, at + 6)[0]
    value = data[at + 8:at + 8 + length]
    return value.rstrip(b"\0 ").decode("ascii", "replace") if len(value) == length else None


def _element_header(syntax: str, vr: str, length: int) -> bytes:
    if syntax == ts.IMPLICIT_VR_LITTLE_ENDIAN:
        return _PIXEL_TAG + struct.pack("<I", length)
    return _PIXEL_TAG + vr.encode() + b"\0\0" + struct.pack("<I", length)


class DicomwebInstance:
    """One instance: metadata now, pixels on :meth:`complete_into`."""

    def __init__(self, client: Any, root: str, study: str, series: str, sop: str,
                 transfer: Transfer, metadata: dict[str, Any] | None) -> None:
        self.client = client
        self.root = root
        self.study, self.series, self.sop = study, series, sop
        self.http = f"{root}/studies/{study}/series/{series}/instances/{sop}"
        self.url = f"dicomweb+{self.http}"
        self.transfer = transfer
        self.metadata = metadata
        self.syntax: str | None = None
        self.frames = 1
        self.native_bytes = 0
        #: how the pixels came: "frames" or "instance" (set by complete_into)
        self.pixels_via: str | None = None

    @property
    def name(self) -> str:
        return redact(self.url)

    # -- requests ---------------------------------------------------------------------
    def _counted(self, what: str, request: Any) -> Any:
        return counted(what, request, self.transfer,
                       lambda value: len(value) if isinstance(value, bytes | bytearray)
                       else sum(len(v) for v in value))

    def _instance_accept(self) -> str:
        return 'multipart/related; type="application/dicom"; transfer-syntax=*'

    def _probe_syntax(self) -> str | None:
        """The stored syntax from the first few KiB of the instance stream."""
        def request() -> bytes:
            response = get(self.client, self.http, self._instance_accept(), stream=True)
            try:
                return bytes(response.raw.read(_PROBE))
            finally:
                response.close()

        return _syntax_of_prefix(self._counted(self.http, request))

    def _whole(self) -> bytes:
        """The whole instance as stored (one Part 10 object)."""
        def request() -> bytes:
            response = get(self.client, self.http, self._instance_accept())
            parts = multipart_parts(self.client, response)
            if len(parts) != 1:
                raise Refused(f"{len(parts)} parts for one instance")
            return parts[0]

        return bytes(self._counted(self.http, request))

    # -- scan time --------------------------------------------------------------------
    def write_header(self, path: str) -> int | None:
        """Write this instance's local file; the offset of its Pixel Data element when
        the pixels are still to come, None when the file is already complete."""
        md = self.metadata
        # servers leave Pixel Data out of the metadata or give it a bulk-data URI (Orthanc
        # omits encapsulated values): an image is known by its Rows and Columns
        if md is not None and "00280010" in md and "00280011" in md \
                and not any(t in md for t in _OTHER_PIXELS):
            self.syntax = _syntax_in(md) or self._probe_syntax()
            if self.syntax in _NATIVE or (self.syntax and ts.is_encapsulated(self.syntax)):
                frames = _int(md, "00280008", 1)
                if not 1 <= frames <= MAX_FRAMES:  # never loop or allocate by a header
                    raise RemoteReadError(self.http, f"Number of Frames {frames} in the "
                                          f"metadata is not plausible", 1)
                try:
                    return self._write_rebuilt(path, md)
                except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
                    pass  # metadata pydicom cannot turn into a header: take the object
        data = self._whole()
        with open(path, "wb") as fh:
            fh.write(data)
        self.pixels_via = "instance"
        return None

    def _bulk(self, tag: str, vr: str, uri: str) -> bytes:
        """A non-pixel bulk value (a vendor's private header, say), fetched by its URI
        (rebased on our service root: servers often name themselves by another host)."""
        if tag.upper() in ("7FE00010", *_OTHER_PIXELS):
            return b""
        at = uri.find("/studies/")
        url = self.root + uri[at:] if at >= 0 else uri

        def request() -> bytes:
            response = get(self.client, url, 'multipart/related; '
                                             'type="application/octet-stream"')
            parts = multipart_parts(self.client, response)
            return b"".join(parts)

        return bytes(self._counted(url, request))

    def _write_rebuilt(self, path: str, md: dict[str, Any]) -> int:
        from pydicom.dataset import Dataset, FileMetaDataset
        from pydicom.uid import UID

        assert self.syntax is not None
        clean = {k: v for k, v in md.items()
                 if not k.startswith("0002") and k not in _SERVER_ADDED}
        ds = Dataset.from_json(clean, bulk_data_uri_handler=self._bulk)
        bits = _int(md, "00280100", 16)
        pixel_vr = str((md.get("7FE00010") or {}).get("vr") or ("OB" if bits <= 8 else "OW"))
        if 0x7FE00010 in ds:
            del ds[0x7FE00010]
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "")
        meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", self.sop)
        meta.TransferSyntaxUID = UID(self.syntax)
        ds.file_meta = meta
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        header = buffer.getvalue()
        self.frames = max(_int(md, "00280008", 1), 1)
        samples = (_int(md, "00280010", 0) * _int(md, "00280011", 0)
                   * _int(md, "00280002", 1) * bits + 7) // 8
        self.native_bytes = samples * self.frames
        with open(path, "wb") as fh:
            fh.write(header)
            if self.syntax in _NATIVE:
                vr = pixel_vr if pixel_vr in ("OB", "OW") else "OW"
                length = self.native_bytes + (self.native_bytes & 1)
                fh.write(_element_header(self.syntax, vr, length))
                fh.truncate(len(header) + 12 + length)  # sparse until the pixels come
            else:  # one empty offset table and a hole of 8 bytes per frame, delimited
                fh.write(_element_header(self.syntax, "OB", _UNDEFINED))
                fh.write(_ITEM + struct.pack("<I", 8 * self.frames))
                fh.seek(8 * self.frames, io.SEEK_CUR)  # a sparse hole, never allocated
                fh.write(_SEQ_END)
        self.pixel_vr = pixel_vr
        return len(header)

    # -- pixel time -------------------------------------------------------------------
    def _frames(self) -> list[bytes]:
        """Every frame as stored, or Refused when the server sends something else."""
        out: list[bytes] = []
        accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
        for first in range(1, self.frames + 1, _FRAMES_PER_REQUEST):
            numbers = ",".join(str(n) for n in
                               range(first, min(first + _FRAMES_PER_REQUEST, self.frames + 1)))
            url = f"{self.http}/frames/{numbers}"

            def request(url: str = url) -> list[bytes]:
                response = get(self.client, url, accept)
                sent = response.headers.get("Content-Type", "")
                if f"transfer-syntax={self.syntax}" not in sent.replace('"', ""):
                    raise Refused(f"frames sent as {sent!r}, stored as {self.syntax}")
                return multipart_parts(self.client, response)

            out.extend(self._counted(url, request))
        if len(out) != self.frames:
            raise Refused(f"{len(out)} frames sent, {self.frames} stored")
        return out

    def _pixel_value(self) -> bytes:
        """The Pixel Data VALUE as this file's syntax stores it (for encapsulated data:
        offset table, items, delimiter)."""
        assert self.syntax is not None
        try:
            frames = self._frames()
            self.pixels_via = "frames"
        except RemoteReadError as exc:
            # refused, or a server error after the retries (Orthanc answers 500 where it
            # cannot send a syntax as frames): the instance may still come whole; a
            # timeout or a reset connection is not retried once more this way
            if not exc.reason.startswith(("Refused", "HTTPError: 5")):
                raise
            frames = []
        if not frames:  # the server cannot send stored frames: the whole instance
            import pydicom

            try:  # a server's answer is parsed like any untrusted file: failure is typed
                ds = pydicom.dcmread(io.BytesIO(self._whole()), force=True)
                stored = str(getattr(ds.file_meta, "TransferSyntaxUID", ""))
                value = bytes(ds.PixelData) if "PixelData" in ds else b""
            except RemoteReadError:
                raise
            except Exception as exc:  # pydicom raises many kinds on a corrupt object
                raise RemoteReadError(self.http, f"the instance sent is not readable: "
                                      f"{type(exc).__name__}: {exc}", 1) from None
            if stored != self.syntax or not value:
                raise RemoteReadError(self.http, f"instance sent as {stored or '?'}, "
                                      f"stored as {self.syntax}", 1)
            self.pixels_via = "instance"
            return value + _SEQ_END if ts.is_encapsulated(self.syntax) else value
        if self.syntax in _NATIVE:
            return b"".join(frames)
        items = [_ITEM + b"\0\0\0\0"]
        for frame in frames:
            frame = frame + b"\0" * (len(frame) & 1)
            items.append(_ITEM + struct.pack("<I", len(frame)) + frame)
        return b"".join(items) + _SEQ_END

    def complete_into(self, path: str, pixel_at: int) -> None:
        """Write the real Pixel Data from `pixel_at` (the element's offset) on."""
        assert self.syntax is not None
        value = self._pixel_value()
        with open(path, "r+b") as fh:
            fh.seek(pixel_at)
            if self.syntax in _NATIVE:
                if len(value) != self.native_bytes:
                    raise RemoteReadError(self.http, f"{len(value)} pixel bytes sent, "
                                          f"{self.native_bytes} expected", 1)
                length = len(value) + (len(value) & 1)
                fh.write(_element_header(self.syntax, self.pixel_vr, length))
                fh.write(value + b"\0" * (len(value) & 1))
            else:
                fh.write(_element_header(self.syntax, "OB", _UNDEFINED))
                fh.write(value)
            fh.truncate()


__all__ = ["MAX_FRAMES", "DicomwebInstance"]
