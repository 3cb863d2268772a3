"""Enhanced multi-frame objects: per-frame geometry and rescale from functional groups.

In an enhanced object each frame's position, orientation, pixel spacing and rescale live
in the Per-frame Functional Groups Sequence, with defaults in the Shared Functional
Groups Sequence. This module flattens both into one plain record per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dicomdecode.geometry import usable_orientation
from dicomdecode.scan.flavours import philips
from dicomdecode.scan.flavours.base import Header
from dicomdecode.scan.values import first_value, floats, opt_float, tm_seconds
from dicomdecode.series import ImageRef


@dataclass
class FrameHeader:
    """Header values of one frame of an enhanced multi-frame object."""

    position: tuple[float, float, float] | None = None
    orientation: tuple[float, ...] | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    slope: float = 1.0
    intercept: float = 0.0
    temporal_index: int | None = None
    frame_type: tuple[str, ...] = ()
    echo_time: float | None = None
    acquisition_time: float | None = None
    private_scale_slope: float | None = None
    stack_id: str | None = None


def recognise(ds: Any) -> bool:
    """True when the dataset carries per-frame functional groups."""
    return "PerFrameFunctionalGroupsSequence" in ds


is_enhanced = recognise


def _first(seq_owner: Any, keyword: str) -> Any:
    seq = seq_owner.get(keyword, None) if seq_owner is not None else None
    if seq is None or len(seq) == 0:
        return None
    return seq[0]


def _lookup(groups: list[Any], seq_keyword: str, keyword: str) -> Any:
    """Value of ``keyword`` inside ``seq_keyword`` of the first group that has it."""
    for group in groups:
        item = _first(group, seq_keyword)
        if item is not None and keyword in item:
            value = item.get(keyword)
            if value is not None and value != "":
                return value
    return None


def _datetime_seconds(value: Any) -> float | None:
    """Seconds within the day of a DT/TM string (enough to order frames)."""
    if value is None:
        return None
    text = str(value)
    if len(text) >= 14 and "." not in text[:8]:  # DT: YYYYMMDDHHMMSS.ffffff
        text = text[8:]
    return tm_seconds(text)


def frame_headers(ds: Any, read_private_slope: bool = True) -> list[FrameHeader]:
    """One FrameHeader per frame, per-frame values first, shared values as defaults.

    ``read_private_slope``: look for the Philips private Scale Slope (vendor files only)."""
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", None) or []
    n_frames = int(ds.get("NumberOfFrames", len(per_frame)) or len(per_frame) or 1)
    outer_block = philips.creator_block(ds) if read_private_slope else None
    out: list[FrameHeader] = []
    for i in range(n_frames):
        frame = per_frame[i] if i < len(per_frame) else None
        groups = [g for g in (frame, shared) if g is not None]
        fh = FrameHeader()
        # the tolerant conversions of scan.values: a malformed value is an absent one, as
        # in classic images (the decode road never reads these; issue 20, fuzz 'agree')
        ipp = _lookup(groups, "PlanePositionSequence", "ImagePositionPatient")
        if ipp is not None:
            fh.position = floats(ipp, 3)  # type: ignore[assignment]
        iop = _lookup(groups, "PlaneOrientationSequence", "ImageOrientationPatient")
        if iop is not None:
            fh.orientation = usable_orientation(floats(iop, 6))  # type: ignore[assignment]
        ps = _lookup(groups, "PixelMeasuresSequence", "PixelSpacing")
        if ps is not None:
            fh.pixel_spacing = floats(ps, 2)  # type: ignore[assignment]
        st = _lookup(groups, "PixelMeasuresSequence", "SliceThickness")
        fh.slice_thickness = opt_float(st)
        sb = _lookup(groups, "PixelMeasuresSequence", "SpacingBetweenSlices")
        fh.spacing_between_slices = opt_float(sb)
        slope = _lookup(groups, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _lookup(groups, "PixelValueTransformationSequence", "RescaleIntercept")
        if slope is None:
            slope = ds.get("RescaleSlope", None)
        if intercept is None:
            intercept = ds.get("RescaleIntercept", None)
        slope_value = opt_float(first_value(slope))
        intercept_value = opt_float(first_value(intercept))
        fh.slope = 1.0 if slope_value is None else slope_value
        fh.intercept = 0.0 if intercept_value is None else intercept_value
        stack = _lookup(groups, "FrameContentSequence", "StackID")
        fh.stack_id = str(stack).strip() if stack is not None else None
        tpi = _lookup(groups, "FrameContentSequence", "TemporalPositionIndex")
        fh.temporal_index = int(tpi) if tpi is not None else None
        ftype = None
        for seq in ("MRImageFrameTypeSequence", "CTImageFrameTypeSequence",
                    "PETFrameTypeSequence"):
            ftype = _lookup(groups, seq, "FrameType")
            if ftype is not None:
                break
        if ftype is not None:
            fh.frame_type = tuple(str(v) for v in ftype)
        te = _lookup(groups, "MREchoSequence", "EffectiveEchoTime")
        fh.echo_time = float(te) if te is not None else None
        fh.acquisition_time = _datetime_seconds(
            _lookup(groups, "FrameContentSequence", "FrameAcquisitionDateTime"))
        if read_private_slope:
            fh.private_scale_slope = philips.nested_scale_slope(groups, outer_block)
        out.append(fh)
    return out


def images(header: Header) -> list[ImageRef]:
    """One ImageRef per frame, each with its own geometry, rescale and frame type."""
    ds, common = header.ds, header.common
    is_philips = header.vendor == "philips"
    refs = []
    for i, fh in enumerate(frame_headers(ds, read_private_slope=is_philips)):
        refs.append(ImageRef(
            **{**common, "image_type": fh.frame_type or common["image_type"],
               "echo_time": fh.echo_time if fh.echo_time is not None else common["echo_time"]},
            frame=i, position=fh.position, orientation=fh.orientation,
            slope=fh.slope, intercept=fh.intercept, pixel_spacing=fh.pixel_spacing,
            slice_thickness=fh.slice_thickness,
            spacing_between_slices=fh.spacing_between_slices,
            acquisition_time=fh.acquisition_time, temporal_index=fh.temporal_index,
            private_scale_slope=fh.private_scale_slope if is_philips else None,
            stack_id=fh.stack_id,
            number_of_frames=header.n_frames))
    return refs
