"""What every flavour starts from: the vendor, worked out once, and the shared fields.

:class:`Header` wraps one parsed header (pydicom Dataset or the fast header view) with
the values every flavour module needs, computed once per file: the vendor, the frame
count, the fields common to all flavours (pixel description, identity) and, lazily,
those of a classic image (geometry, rescale).
"""

from __future__ import annotations

import os
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from dicomdecode.geometry import usable_orientation
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.header import FastHeader, tag_of
from dicomdecode.read.pixel_source import (
    PixelSource,
    frame_nbytes,
    make_pixel_source,
    max_frames,
)
from dicomdecode.scan.flavours import philips
from dicomdecode.scan.values import (
    first_value,
    floats,
    opt_float,
    opt_int,
    tm_seconds,
    transfer_syntax,
    upper_strings,
)

#: Manufacturer substrings (lower case) -> vendor name; first match wins.
_VENDORS = (
    ("philips", "philips"), ("siemens", "siemens"), ("ge medical", "ge"), ("ge healthcare", "ge"),
    ("uih", "uih"), ("united imaging", "uih"), ("canon", "canon"), ("toshiba", "canon"),
    ("hitachi", "hitachi"), ("fujifilm", "hitachi"),
)


def vendor_of(ds: Any) -> str:
    """The vendor from Manufacturer (case-insensitive): "philips", "siemens", "ge",
    "uih", "canon", "hitachi", or "" for any other or none."""
    text = str(ds.get("Manufacturer", "") or "").lower()
    for needle, name in _VENDORS:
        if needle in text:
            return name
    return ""


def pixel_element_offset(ds: Any) -> int:
    """Where the Pixel Data element starts in the file (native or encapsulated), or -1.

    Decoding then reads pixels from there without parsing the header again."""
    if "ExtendedOffsetTable" in ds:
        return -1  # frames located through the extended table: pydicom's job
    if transfer_syntax(ds) == ts.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        return -1  # deflated: offsets refer to the inflated stream, not the file
    if isinstance(ds, FastHeader):
        return ds.pixel_offset
    try:
        raw = ds.get_item(0x7FE00010, keep_deferred=True)
    except (KeyError, TypeError):
        return -1
    tell = getattr(raw, "value_tell", None)
    if tell is None:  # big endian too: the fast view (read/walkcore) records it for both
        return -1
    implicit = bool(getattr(raw, "is_implicit_VR", False))
    if implicit != (transfer_syntax(ds) == ts.IMPLICIT_VR_LITTLE_ENDIAN):
        # the data is not encoded as its File Meta says (pydicom noticed and read it the
        # other way): the offset readers would parse the element the declared way, so
        # the pixels are read the general way instead, as describe_file does (issue 20)
        return -1
    return int(tell) - (8 if implicit else 12)


def common_fields(ds: Any, path: str) -> dict[str, Any]:
    """ImageRef fields every flavour shares: identity and pixel description.

    The pixel description is :func:`~dicomdecode.read.pixel_source.make_pixel_source`'s,
    the one place where missing values get defaults, so the scan and every decode road
    see the same header facts: a Bits Allocated of 0 stays 0 here and the guard refuses
    it on every road (the scan once made it 16 and ``load`` decoded what ``decode_file``
    refused)."""
    float_bits = 32 if "FloatPixelData" in ds else 64 if "DoubleFloatPixelData" in ds else 0
    px = _pixel_description(ds, path, transfer_syntax(ds), float_bits)
    return dict(
        path=path, sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
        rows=px.rows, columns=px.columns, transfer_syntax=px.transfer_syntax,
        instance_number=opt_int(ds.get("InstanceNumber", None)),
        echo_number=opt_int(first_value(ds.get("EchoNumbers", None))),
        echo_time=opt_float(ds.get("EchoTime", None)),
        image_type=upper_strings(ds.get("ImageType", None)),
        samples_per_pixel=px.samples_per_pixel,
        bits_allocated=px.bits_allocated,
        pixel_representation=px.pixel_representation,
        bits_stored=px.bits_stored,
        photometric=px.photometric_interpretation,
        planar_configuration=px.planar_configuration,
        pixel_offset=pixel_element_offset(ds),
        float_pixels=float_bits,
        number_of_frames=px.number_of_frames,
    )


#: the keywords make_pixel_source reads
_PIXEL_KEYWORDS = ("SamplesPerPixel", "BitsAllocated", "PhotometricInterpretation",
                   "NumberOfFrames", "Rows", "Columns", "BitsStored", "PixelRepresentation",
                   "PlanarConfiguration")
_PIXEL_TAGS = array("q", [int(tag_of(keyword) or 0) for keyword in _PIXEL_KEYWORDS])
_PIXEL_CACHE: dict[Any, PixelSource] = {}


def _pixel_description(ds: Any, path: str, syntax: str, float_bits: int) -> PixelSource:
    """:func:`make_pixel_source` of `ds` (only its pixel fields are used, never `path`).

    The files of a series describe their pixels with the same bytes: for the fast header
    view the description is made once per fingerprint of those elements (an error, such
    as a bad Number of Frames naming the file, is never kept: it is raised again)."""
    def get(keyword: str) -> Any:
        return ds.get(keyword, None)

    return per_fingerprint(ds, _PIXEL_TAGS, _PIXEL_CACHE,
                           lambda: make_pixel_source(path, syntax, get, float_bits=float_bits),
                           (syntax, float_bits))


#: entries a per-fingerprint cache holds before it is emptied (a bound, not a tuning)
_CACHE_MAX = 1024


def per_fingerprint(ds: Any, tags: array, cache: dict[Any, Any], compute: Callable[[], Any],
                    extra: tuple[Any, ...] = ()) -> Any:
    """``compute()``, kept in ``cache`` per fingerprint of the elements ``tags`` (and
    ``extra``) when ``ds`` is the fast header view; computed every time otherwise.

    The files of a series mostly hold the same bytes for series-level elements, so their
    values are worked out once per series rather than once per file. Only results are
    kept: an error (which names its file) is raised again for the next file. Callers that
    hand out mutable values copy them."""
    if not isinstance(ds, FastHeader):
        return compute()
    key = (extra, ds.fingerprint(tags))
    value = cache.get(key)
    if value is None:
        value = compute()
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = value
    return value


def checked_frame_count(ds: Any, path: str, common: dict[str, Any]) -> int:
    """Number of Frames (:func:`~dicomdecode.read.pixel_source.declared_frames`, already
    in `common`), after checking the file can hold that many: a header claiming 2**31
    frames must not make the scan build 2**31 records (ValueError: the scan skips the
    file as unusable, naming both numbers)."""
    count = int(common.pop("number_of_frames"))
    frame_bytes = frame_nbytes(SimpleNamespace(  # type: ignore[arg-type]
        photometric_interpretation=common["photometric"], **{
            k: common[k] for k in ("rows", "columns", "samples_per_pixel",
                                   "bits_allocated", "float_pixels")}))
    size = getattr(ds, "file_size", None)  # the fast view read the file: no second stat
    if size is None:
        try:
            size = os.path.getsize(path)
        except OSError:
            return count
    limit = max_frames(size, common["pixel_offset"], common["transfer_syntax"], frame_bytes)
    if count > max(limit, 1):
        raise ValueError(f"Number of Frames is {count}, but the {size}-byte file can hold "
                         f"at most {limit} frame(s) of {common['rows']}x{common['columns']}")
    return count


@dataclass
class Header:
    """One file's header and the values every flavour needs, each worked out once."""

    ds: Any
    path: str
    vendor: str = ""
    n_frames: int = 1
    common: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, ds: Any, path: str) -> Header:
        common = common_fields(ds, path)
        return cls(ds=ds, path=path, vendor=vendor_of(ds),
                   n_frames=checked_frame_count(ds, path, common), common=common)

    @cached_property
    def position(self) -> tuple[float, ...] | None:
        """Image Position (Patient) of the (first) frame, as stored."""
        return floats(self.ds.get("ImagePositionPatient", None), 3)

    @cached_property
    def orientation(self) -> tuple[float, ...] | None:
        """Image Orientation (Patient), or None when absent or spanning no plane."""
        return usable_orientation(floats(self.ds.get("ImageOrientationPatient", None), 6))

    @cached_property
    def classic(self) -> dict[str, Any]:
        """ImageRef fields of a non-enhanced image (all but frame and position):
        geometry, rescale, timing and the vendor's private scale."""
        ds = self.ds
        return dict(
            **self.common, orientation=self.orientation,
            **_classic_scales(ds),
            acquisition_time=tm_seconds(ds.get("AcquisitionTime", None)),
            temporal_index=opt_int(ds.get("TemporalPositionIdentifier", None)),
            private_scale_slope=philips.scale_slope(ds) if self.vendor == "philips" else None,
            number_of_frames=self.n_frames)


def _scales_of(ds: Any) -> dict[str, Any]:
    return dict(
        pixel_spacing=floats(ds.get("PixelSpacing", None)
                             or ds.get("ImagerPixelSpacing", None), 2),
        # RT Dose stores its scale to Gy as Dose Grid Scaling, not Rescale Slope
        slope=(opt_float(ds.get("RescaleSlope", None))
               or opt_float(ds.get("DoseGridScaling", None)) or 1.0),
        intercept=opt_float(ds.get("RescaleIntercept", None)) or 0.0,
        slice_thickness=opt_float(ds.get("SliceThickness", None)),
        spacing_between_slices=opt_float(ds.get("SpacingBetweenSlices", None)))


_SCALE_TAGS = array("q", [int(tag_of(keyword) or 0) for keyword in (
    "PixelSpacing", "ImagerPixelSpacing", "RescaleSlope", "DoseGridScaling",
    "RescaleIntercept", "SliceThickness", "SpacingBetweenSlices")])
_SCALE_CACHE: dict[Any, dict[str, Any]] = {}


def _classic_scales(ds: Any) -> dict[str, Any]:
    """Pixel spacing, rescale and slice spacing of a classic image (immutable values).

    Mostly the same bytes in every file of a series: for the fast header view worked out
    once per fingerprint of those elements."""
    return per_fingerprint(ds, _SCALE_TAGS, _SCALE_CACHE, lambda: _scales_of(ds))
