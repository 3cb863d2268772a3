"""Flavours of image objects, recognised once per file behind one factory.

Each flavour is a small module (as nibabel's ``nicom`` wrappers): it recognises its
objects and turns one header into the ImageRefs it contributes. The vendor is worked out
once (:func:`base.vendor_of`); vendor rules (Philips private scale, ...) live in their own
module and read private tags through their private creator.

=============  ==============================================================
``enhanced``   enhanced multi-frame: per-frame functional groups
``mosaic``     Siemens mosaic: one image holds a volume of tiles (CSA header)
``uih``        UIH VFRAME: mosaic-like grid of tiles with per-tile positions
``rtdose``     RT Dose multi-frame grid placed by Grid Frame Offset Vector
``classic``    everything else: single frame, or multi-frame sharing one geometry
=============  ==============================================================
"""

from __future__ import annotations

from array import array
from typing import Any

from dicomdecode.read.header import FastHeader, tag_of
from dicomdecode.scan.flavours import classic, enhanced, mosaic, rtdose, uih
from dicomdecode.scan.flavours.base import Header, per_fingerprint, vendor_of
from dicomdecode.scan.values import json_value
from dicomdecode.series import ImageRef

#: Series-level attributes copied into SeriesInfo.meta (and from there Volume.meta).
META_KEYWORDS = (
    "Modality", "Manufacturer", "ManufacturerModelName", "SeriesDescription", "SeriesNumber",
    "ProtocolName", "StudyDescription", "BodyPartExamined", "PatientPosition",
    "EchoTime", "RepetitionTime", "InversionTime", "FlipAngle", "MagneticFieldStrength",
    "SliceThickness", "SpacingBetweenSlices", "ImageType", "PhotometricInterpretation",
    "BitsAllocated", "BitsStored", "PixelRepresentation", "SamplesPerPixel",
    "PixelPaddingValue", "PixelPaddingRangeLimit", "RescaleType", "SOPClassUID",
    "SeriesInstanceUID", "StudyInstanceUID", "FrameOfReferenceUID", "AcquisitionNumber",
    "GantryDetectorTilt", "ConvolutionKernel", "KVP",
)


_ABSENT = object()


def flavour_of(header: Header) -> tuple[str, Any]:
    """The flavour of one header and what recognising it found (mosaic info, frame
    offsets), checked in a fixed order; "classic" when nothing else matches."""
    ds = header.ds
    if enhanced.recognise(ds):
        return "enhanced", None
    tiles = mosaic.recognise(ds)
    if tiles is not None:
        if header.n_frames == 1:
            return "mosaic", tiles
    else:
        tiles = uih.recognise(ds)
        if tiles is not None and header.n_frames == 1:
            return "vframe", tiles
    offsets = rtdose.recognise(header)
    if offsets is not None:
        return "rtdose", offsets
    return "classic", None


def images_from_header(ds: Any, path: str) -> list[ImageRef]:
    """The ImageRefs one file contributes (one per frame; one for a mosaic)."""
    header = Header.of(ds, path)
    flavour, found = flavour_of(header)
    if flavour == "enhanced":
        return enhanced.images(header)
    if flavour in ("mosaic", "vframe"):
        return mosaic.images(header, found)
    if flavour == "rtdose":
        return rtdose.images(header, found)
    return classic.images(header)


#: Keywords DICOM gives in milliseconds that metadata carries in seconds (as BIDS and
#: dcm2niix): one unit per key in Volume.meta, sidecars, npz and Zarr metadata.
SECONDS_KEYWORDS = ("EchoTime", "RepetitionTime", "InversionTime")


def series_meta(ds: Any) -> dict[str, Any]:
    """Series-level attributes as JSON-safe values (also from enhanced shared groups);
    times in seconds (:data:`SECONDS_KEYWORDS`).

    The files of a series mostly hold the same bytes for these: for the fast header view
    the result is kept per fingerprint of those elements, so it is worked out once per
    series rather than once per file (each file still gets its own dict and lists)."""
    if not isinstance(ds, FastHeader):
        return _series_meta(ds)
    meta = per_fingerprint(ds, _META_TAGS, _META_CACHE, lambda: _series_meta(ds))
    return {k: list(v) if type(v) is list else v for k, v in meta.items()}


#: the tags series_meta reads (and the per-frame groups, which add the echo time)
def _known_tag(keyword: str) -> int:
    tag = tag_of(keyword)
    if tag is None:
        raise KeyError(keyword)
    return tag


_META_TAGS = array("q", [_known_tag(kw) for kw in (*META_KEYWORDS,
                                                   "PerFrameFunctionalGroupsSequence")])
_META_CACHE: dict[Any, dict[str, Any]] = {}


def _series_meta(ds: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for kw in META_KEYWORDS:
        value = ds.get(kw, _ABSENT)  # one lookup: present (maybe empty: None) or absent
        if value is not _ABSENT:
            meta[kw] = json_value(value)
    if "EchoTime" not in meta and enhanced.recognise(ds):
        fh = enhanced.frame_headers(ds, read_private_slope=False)
        if fh and fh[0].echo_time is not None:
            meta["EchoTime"] = fh[0].echo_time
    for kw in SECONDS_KEYWORDS:
        meta[kw] = _ms_to_seconds(meta[kw]) if kw in meta else None
        if meta[kw] is None:
            del meta[kw]
    return meta


def _ms_to_seconds(value: Any) -> float | None:
    """A DICOM time in ms (first of several values) in seconds, or None."""
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return round(float(value) / 1000.0, 9)
    except (TypeError, ValueError):
        return None


__all__ = ["META_KEYWORDS", "SECONDS_KEYWORDS", "Header", "flavour_of", "images_from_header", "series_meta",
           "vendor_of"]
