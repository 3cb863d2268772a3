"""Enhanced multi-frame objects: per-frame geometry and rescale from functional groups.

In an enhanced object each frame's position, orientation, pixel spacing and rescale live
in the Per-frame Functional Groups Sequence, with defaults in the Shared Functional
Groups Sequence. This module flattens both into one plain record per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
    stack_position: int | None = None
    dimension_index: tuple[int, ...] | None = None
    frame_type: tuple[str, ...] = ()
    echo_time: float | None = None
    acquisition_time: float | None = None
    b_value: float | None = None
    private_scale_slope: float | None = None


def is_enhanced(ds: Any) -> bool:
    """True when the dataset carries per-frame functional groups."""
    return "PerFrameFunctionalGroupsSequence" in ds


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


def _find_private_scale_slope(groups: list[Any]) -> float | None:
    """Philips (2005,100E) Scale Slope, which Philips nests in a private per-frame item."""
    for group in groups:
        if group is None:
            continue
        for elem in group:
            if elem.VR == "SQ" and elem.value:
                item = elem.value[0]
                if (0x2005, 0x100E) in item:
                    try:
                        return float(item[0x2005, 0x100E].value)
                    except (TypeError, ValueError):
                        return None
    return None


def _datetime_seconds(value: Any) -> float | None:
    """Seconds within the day of a DT/TM string (enough to order frames)."""
    if value is None:
        return None
    text = str(value)
    if len(text) >= 14 and "." not in text[:8]:  # DT: YYYYMMDDHHMMSS.ffffff
        text = text[8:]
    return tm_seconds(text)


def tm_seconds(value: Any) -> float | None:
    """DICOM TM ("HHMMSS.ffffff", also "HH:MM:SS") to seconds, or None."""
    if value is None:
        return None
    text = str(value).replace(":", "").strip()
    if not text:
        return None
    try:
        main, _, frac = text.partition(".")
        main = main.ljust(6, "0")
        secs = int(main[0:2]) * 3600 + int(main[2:4]) * 60 + int(main[4:6])
        return secs + (float("0." + frac) if frac else 0.0)
    except ValueError:
        return None


def frame_headers(ds: Any) -> list[FrameHeader]:
    """One FrameHeader per frame, per-frame values first, shared values as defaults."""
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", None) or []
    n_frames = int(ds.get("NumberOfFrames", len(per_frame)) or len(per_frame) or 1)
    out: list[FrameHeader] = []
    for i in range(n_frames):
        frame = per_frame[i] if i < len(per_frame) else None
        groups = [g for g in (frame, shared) if g is not None]
        fh = FrameHeader()
        ipp = _lookup(groups, "PlanePositionSequence", "ImagePositionPatient")
        if ipp is not None:
            fh.position = tuple(float(v) for v in ipp)  # type: ignore[assignment]
        iop = _lookup(groups, "PlaneOrientationSequence", "ImageOrientationPatient")
        if iop is not None:
            fh.orientation = tuple(float(v) for v in iop)
        ps = _lookup(groups, "PixelMeasuresSequence", "PixelSpacing")
        if ps is not None:
            fh.pixel_spacing = (float(ps[0]), float(ps[1]))
        st = _lookup(groups, "PixelMeasuresSequence", "SliceThickness")
        fh.slice_thickness = float(st) if st is not None else None
        sb = _lookup(groups, "PixelMeasuresSequence", "SpacingBetweenSlices")
        fh.spacing_between_slices = float(sb) if sb is not None else None
        slope = _lookup(groups, "PixelValueTransformationSequence", "RescaleSlope")
        intercept = _lookup(groups, "PixelValueTransformationSequence", "RescaleIntercept")
        if slope is None:
            slope = ds.get("RescaleSlope", None)
        if intercept is None:
            intercept = ds.get("RescaleIntercept", None)
        fh.slope = float(slope) if slope is not None else 1.0
        fh.intercept = float(intercept) if intercept is not None else 0.0
        tpi = _lookup(groups, "FrameContentSequence", "TemporalPositionIndex")
        fh.temporal_index = int(tpi) if tpi is not None else None
        isp = _lookup(groups, "FrameContentSequence", "InStackPositionNumber")
        fh.stack_position = int(isp) if isp is not None else None
        div = _lookup(groups, "FrameContentSequence", "DimensionIndexValues")
        if div is not None:
            fh.dimension_index = tuple(int(v) for v in (div if isinstance(div, list | tuple)
                                                        or hasattr(div, "__iter__") else [div]))
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
        bval = _lookup(groups, "MRDiffusionSequence", "DiffusionBValue")
        fh.b_value = float(bval) if bval is not None else None
        fh.private_scale_slope = _find_private_scale_slope(groups)
        out.append(fh)
    return out
