"""Series discovery: paths in, SeriesInfo out, from headers only (pixels are never decoded).

A folder is walked recursively; every file ends up either in a series or in
``ScanResult.skipped`` with a reason. Images are grouped by study + series UID and then
split where one series cannot be one volume (orientation, size, pixel spacing,
localizers, echo number, image type, mosaic or not). Inside a group the images are put
in geometric order (projection on the slice normal); repeated positions become volumes
of a 4th axis when every position repeats equally often.
"""

from __future__ import annotations

import dataclasses
import decimal
import hashlib
import os
import warnings
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dicomdecode import geometry
from dicomdecode.engine import parallel
from dicomdecode.read.header import FastHeader, NeedsFullParse, read_fast_header
from dicomdecode.scan.flavours import enhanced, mosaic

PathLike = str | os.PathLike[str]

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

_PIXEL_MEANING_TYPES = frozenset({
    "M", "P", "R", "I", "MAGNITUDE", "PHASE", "REAL", "IMAGINARY", "FIELD_MAP", "B0",
    "PHASE_MAP", "T1_MAP", "T2_MAP", "ADC", "FA", "TRACEW", "DIFFUSION",
})
_NO_PIXEL_SOP_PREFIXES = ("1.2.840.10008.5.1.4.1.1.88.",)  # structured reports


@dataclass(frozen=True)
class ImageRef:
    """One 2D image: a single-frame file, one frame of a multi-frame file, or one mosaic."""

    path: str
    frame: int
    sop_instance_uid: str
    position: tuple[float, float, float] | None
    orientation: tuple[float, ...] | None
    rows: int
    columns: int
    transfer_syntax: str
    slope: float = 1.0
    intercept: float = 0.0
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    instance_number: int | None = None
    acquisition_time: float | None = None
    temporal_index: int | None = None
    echo_number: int | None = None
    image_type: tuple[str, ...] = ()
    private_scale_slope: float | None = None
    #: >0 for a mosaic: how many slices the image holds (and their tile size / normal).
    mosaic_slices: int = 0
    mosaic_tile: tuple[int, int] | None = None
    mosaic_normal: tuple[float, float, float] | None = None
    number_of_frames: int = 1
    samples_per_pixel: int = 1
    bits_allocated: int = 16
    pixel_representation: int = 0
    bits_stored: int = 0  # 0: same as bits_allocated
    photometric: str = ""
    planar_configuration: int = 0
    #: file offset of the Pixel Data element header (native syntaxes), -1 when unknown;
    #: lets assembly read uncompressed pixels straight into the volume
    pixel_offset: int = -1
    #: 32 or 64 for Float / Double Float Pixel Data (parametric maps), 0 for integers
    float_pixels: int = 0


@dataclass(frozen=True)
class Skipped:
    """A file that is not part of any series, and why."""

    path: str
    reason: str


@dataclass
class SeriesInfo:
    """One (possibly split) series: what to decode and in which order.

    ``images`` is volume-major then in geometric slice order; ``n_volumes`` > 1 means a
    4th axis. ``warnings`` hold problems found while grouping (irregular repeats,
    duplicate instances); ``issue_paths`` the files involved.
    """

    uid: str
    study_uid: str
    series_uid: str
    series_number: int | None
    description: str
    modality: str
    images: list[ImageRef]
    n_volumes: int = 1
    kind: str = "classic"  # classic | enhanced | mosaic | vframe | nogeometry
    meta: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    issue_paths: list[str] = field(default_factory=list)

    @property
    def files(self) -> list[str]:
        """Sorted unique paths of the files in this series."""
        return sorted({im.path for im in self.images})

    @property
    def n_slices(self) -> int:
        return len(self.images) // max(self.n_volumes, 1)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesInfo:
        d = dict(d)
        d["images"] = [_image_from_dict(im) for im in d["images"]]
        return cls(**d)


def _image_from_dict(d: dict[str, Any]) -> ImageRef:
    tuple_fields = {"position", "orientation", "pixel_spacing", "image_type", "mosaic_tile",
                    "mosaic_normal"}
    values: dict[str, Any] = {k: (tuple(v) if k in tuple_fields and v is not None else v)
                              for k, v in d.items()}
    return ImageRef(**values)


@dataclass
class ScanResult:
    """Series found and files skipped (with a reason)."""

    series: list[SeriesInfo] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (save it as an index for data loaders)."""
        return {"series": [s.to_dict() for s in self.series],
                "skipped": [dataclasses.asdict(s) for s in self.skipped]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScanResult:
        return cls(series=[SeriesInfo.from_dict(s) for s in d.get("series", [])],
                   skipped=[Skipped(**s) for s in d.get("skipped", [])])


# --------------------------------------------------------------------------- reading


def iter_files(paths: PathLike | Sequence[PathLike]) -> Iterator[str]:
    """Every regular file under the given files/folders, recursively, sorted, once each."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    seen: set[str] = set()
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            found: list[str] = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                found.extend(os.path.join(root, f) for f in files)
            candidates: Iterable[str] = sorted(found)
        else:
            candidates = [p]
        for f in candidates:
            if f not in seen:
                seen.add(f)
                yield f


#: Values larger than this are not loaded while scanning (pixel data is only located).
_DEFER_BYTES = 64 * 1024


def read_header(path: str) -> Any | Skipped:
    """Header of one file with large values (pixel data) deferred, or why it is skipped.

    One read: large elements are located but not loaded, so we learn whether Pixel Data
    is present without a second pass and without decoding anything.
    """
    import pydicom  # imported here: the fast header view needs no pydicom at all
    from pydicom.errors import InvalidDicomError

    if not os.path.isfile(path):
        return Skipped(path, "not a file or does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES)
    except InvalidDicomError:
        try:  # no preamble: accept only when it parses into something DICOM-like
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, defer_size=_DEFER_BYTES, force=True)
        except Exception as exc:
            return Skipped(path, f"not DICOM: {exc}")
        if "SOPClassUID" not in ds and "Rows" not in ds:
            return Skipped(path, "not DICOM (no DICM prefix and no DICOM attributes)")
    except Exception as exc:  # truncated or corrupt header
        return Skipped(path, f"unreadable DICOM header: {type(exc).__name__}: {exc}")
    return ds


def _has_pixel_data(ds: Any) -> bool:
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


def _classify(ds: Any, path: str) -> str | None:
    """Reason to skip a parsed header, or None when it is an image."""
    sop_class = str(ds.get("SOPClassUID", "") or getattr(ds.get("file_meta", None) or {},
                                                         "MediaStorageSOPClassUID", ""))
    if sop_class == "1.2.840.10008.1.3.10" or "DirectoryRecordSequence" in ds:
        return "DICOMDIR (a directory index, no image)"
    if sop_class.startswith(_NO_PIXEL_SOP_PREFIXES):
        return f"no pixel data (structured report, SOP class {sop_class})"
    if "Rows" not in ds or "Columns" not in ds:
        modality = ds.get("Modality", "")
        return f"no pixel data (modality {modality or '?'}, SOP class {sop_class or '?'})"
    if not _has_pixel_data(ds):
        return "no pixel data element"
    return None


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return out if len(out) == n else None


def _opt_float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _opt_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _private_scale_slope(ds: Any) -> float | None:
    if "Philips" not in str(ds.get("Manufacturer", "")):
        return None
    try:
        return float(ds[0x2005, 0x100E].value)
    except (KeyError, TypeError, ValueError):
        return None


def _pixel_element_offset(ds: Any) -> int:
    """Where the Pixel Data element starts in the file (native or encapsulated), or -1.

    Decoding then reads pixels from there without parsing the header again."""
    if "ExtendedOffsetTable" in ds:
        return -1  # frames located through the extended table: pydicom's job
    syntax = str(getattr(ds.get("file_meta", None), "TransferSyntaxUID", "") or "")
    if syntax == "1.2.840.10008.1.2.1.99":
        return -1  # deflated: offsets refer to the inflated stream, not the file
    if isinstance(ds, FastHeader):
        return ds.pixel_offset
    try:
        raw = ds.get_item(0x7FE00010, keep_deferred=True)
    except (KeyError, TypeError):
        return -1
    tell = getattr(raw, "value_tell", None)
    if tell is None or not getattr(raw, "is_little_endian", True):
        return -1
    return int(tell) - (8 if getattr(raw, "is_implicit_VR", False) else 12)


def images_from_header(ds: Any, path: str) -> list[ImageRef]:
    """The ImageRefs one file contributes (one per frame; one for a mosaic)."""
    ts = str(getattr(ds.get("file_meta", None), "TransferSyntaxUID", "") or "")
    common: dict[str, Any] = dict(
        path=path, sop_instance_uid=str(ds.get("SOPInstanceUID", "") or ""),
        rows=int(ds.Rows), columns=int(ds.Columns), transfer_syntax=ts,
        instance_number=_opt_int(ds.get("InstanceNumber", None)),
        echo_number=_opt_int(_first_value(ds.get("EchoNumbers", None))),
        image_type=tuple(str(v).strip().upper() for v in _as_list(ds.get("ImageType", None))),
        samples_per_pixel=_opt_int(ds.get("SamplesPerPixel", None)) or 1,
        bits_allocated=_opt_int(ds.get("BitsAllocated", None)) or 16,
        pixel_representation=_opt_int(ds.get("PixelRepresentation", None)) or 0,
        bits_stored=_opt_int(ds.get("BitsStored", None)) or 0,
        photometric=str(ds.get("PhotometricInterpretation", "") or "").strip(),
        planar_configuration=_opt_int(ds.get("PlanarConfiguration", None)) or 0,
        pixel_offset=_pixel_element_offset(ds),
        float_pixels=32 if "FloatPixelData" in ds else 64 if "DoubleFloatPixelData" in ds else 0,
    )
    n_frames = _opt_int(ds.get("NumberOfFrames", None)) or 1
    if enhanced.is_enhanced(ds):
        refs = []
        for i, fh in enumerate(enhanced.frame_headers(ds)):
            refs.append(ImageRef(
                **{**common, "image_type": fh.frame_type or common["image_type"]},
                frame=i, position=fh.position, orientation=fh.orientation,
                slope=fh.slope, intercept=fh.intercept, pixel_spacing=fh.pixel_spacing,
                slice_thickness=fh.slice_thickness,
                spacing_between_slices=fh.spacing_between_slices,
                acquisition_time=fh.acquisition_time, temporal_index=fh.temporal_index,
                private_scale_slope=(fh.private_scale_slope
                                     if "Philips" in str(ds.get("Manufacturer", "")) else None),
                number_of_frames=n_frames))
        return refs
    position: Any = _floats(ds.get("ImagePositionPatient", None), 3)
    orientation = _floats(ds.get("ImageOrientationPatient", None), 6)
    ps = _floats(ds.get("PixelSpacing", None) or ds.get("ImagerPixelSpacing", None), 2)
    base: dict[str, Any] = dict(
        **common, orientation=orientation, pixel_spacing=ps,
        # RT Dose stores its scale to Gy as Dose Grid Scaling, not Rescale Slope
        slope=(_opt_float(ds.get("RescaleSlope", None))
               or _opt_float(ds.get("DoseGridScaling", None)) or 1.0),
        intercept=_opt_float(ds.get("RescaleIntercept", None)) or 0.0,
        slice_thickness=_opt_float(ds.get("SliceThickness", None)),
        spacing_between_slices=_opt_float(ds.get("SpacingBetweenSlices", None)),
        acquisition_time=enhanced.tm_seconds(ds.get("AcquisitionTime", None)),
        temporal_index=_opt_int(ds.get("TemporalPositionIdentifier", None)),
        private_scale_slope=_private_scale_slope(ds), number_of_frames=n_frames)
    info = mosaic.siemens_mosaic_info(ds) or mosaic.uih_vframe_info(ds)
    if info is not None and n_frames == 1:
        return [ImageRef(**{**base, "frame": 0,
                            "position": info.position or position,
                            "mosaic_slices": info.n_slices,
                            "mosaic_tile": (info.tile_rows, info.tile_cols),
                            "mosaic_normal": info.normal})]
    if n_frames > 1:
        offsets = _floats(ds.get("GridFrameOffsetVector", None), n_frames)
        if offsets is not None and position is not None and orientation is not None:
            # RT Dose: frame k lies (offset_k - offset_0) mm along the normal from the
            # first frame (PS3.3 C.8.8.3.2; relative and absolute forms agree on this).
            normal = geometry.slice_normal(orientation)
            refs = []
            for i, off in enumerate(offsets):
                x, y, z = (float(v) for v in np.asarray(position) + (off - offsets[0]) * normal)
                refs.append(ImageRef(**base, frame=i, position=(x, y, z)))
            return refs
        # classic multi-frame (US cine, NM, XA): frames share one geometry
        return [ImageRef(**base, frame=i, position=position) for i in range(n_frames)]
    return [ImageRef(**base, frame=0, position=position)]


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def _first_value(value: Any) -> Any:
    items = _as_list(value)
    return items[0] if items else None


def _json_value(value: Any) -> Any:
    """Header value as plain JSON types."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):  # pydicom's IS is an int subclass
        return int(value)
    if isinstance(value, float | decimal.Decimal):  # DSfloat / DSdecimal
        return float(value)
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "__iter__"):
        return [_json_value(v) for v in value]
    return str(value)  # PersonName and the like


def series_meta(ds: Any) -> dict[str, Any]:
    """Series-level attributes as JSON-safe values (also from enhanced shared groups)."""
    meta: dict[str, Any] = {}
    for kw in META_KEYWORDS:
        if kw in ds:
            meta[kw] = _json_value(ds.get(kw))
    if "EchoTime" not in meta and enhanced.is_enhanced(ds):
        fh = enhanced.frame_headers(ds)
        if fh and fh[0].echo_time is not None:
            meta["EchoTime"] = fh[0].echo_time
    return meta


# --------------------------------------------------------------------------- grouping


def _split_key(im: ImageRef) -> tuple[Any, ...]:
    """Images with different keys cannot share one volume."""
    ps = tuple(round(v, 4) for v in im.pixel_spacing) if im.pixel_spacing else None
    localizer = "LOCALIZER" in im.image_type or "SCOUT" in im.image_type
    # Only the image-type values that change what a pixel means (magnitude, phase, field
    # map...) split a series; others (GE CT "ADD") vary harmlessly between slices.
    type_tail = tuple(sorted(set(im.image_type) & _PIXEL_MEANING_TYPES))
    return (im.rows, im.columns, im.samples_per_pixel, im.bits_allocated,
            im.pixel_representation, ps, localizer, im.echo_number, type_tail,
            im.mosaic_slices, im.mosaic_tile)


def _split_orientation(images: list[ImageRef]) -> list[list[ImageRef]]:
    """Cluster images whose orientations agree (greedy, deterministic input order)."""
    groups: list[tuple[tuple[float, ...] | None, list[ImageRef]]] = []
    for im in images:
        for ori, members in groups:
            if (ori is None and im.orientation is None) or (
                    ori is not None and im.orientation is not None
                    and geometry.same_orientation(ori, im.orientation)):
                members.append(im)
                break
        else:
            groups.append((im.orientation, [im]))
    return [members for _, members in groups]


def _temporal_key(im: ImageRef) -> tuple[Any, ...]:
    """Order of images at one position (4th axis): as dcm2niix, time then instance."""
    return (im.temporal_index if im.temporal_index is not None else 0,
            im.acquisition_time if im.acquisition_time is not None else 0.0,
            im.instance_number if im.instance_number is not None else 0,
            im.path, im.frame)


@dataclass
class _Ordered:
    images: list[ImageRef]
    n_volumes: int
    warnings: list[str] = field(default_factory=list)
    issue_paths: list[str] = field(default_factory=list)


def order_group(images: list[ImageRef]) -> list[_Ordered]:
    """Put one homogeneous group in (volume, slice) order; split irregular repeats."""
    if any(im.position is None or im.orientation is None for im in images):
        ordered = sorted(images, key=_temporal_key)
        return [_Ordered(ordered, 1)]
    normal = np.asarray(images[0].mosaic_normal) if images[0].mosaic_normal else \
        geometry.slice_normal(images[0].orientation or ())
    dist = geometry.project([im.position for im in images], normal)  # type: ignore[misc]
    clusters = [sorted((images[i] for i in c), key=_temporal_key)
                for c in geometry.cluster_positions(dist)]
    counts = {len(c) for c in clusters}
    if len(counts) == 1:
        k = counts.pop()
        return [_Ordered([c[v] for v in range(k) for c in clusters], k)]
    # Irregular: volume v holds the v-th repeat of every position that has one.
    k = max(len(c) for c in clusters)
    full = [c for c in clusters if len(c) == k]
    message = (f"positions repeat irregularly ({sorted({len(c) for c in clusters})} images per "
               f"position over {len(clusters)} positions); split into separate volumes")
    by_count: dict[int, list[list[ImageRef]]] = defaultdict(list)
    for c in clusters:
        by_count[len(c)].append(c)
    out: list[_Ordered] = []
    odd_paths = sorted({im.path for c in clusters if len(c) != k for im in c}
                       | {im.path for c in full for im in c[1:]})
    # The most common repeat count forms the main series; the rest split off per repeat.
    main_count = max(by_count, key=lambda n: (len(by_count[n]), n))
    main = [c for c in clusters if len(c) >= main_count]
    out.append(_Ordered([c[v] for v in range(main_count) for c in main], main_count,
                        [message], odd_paths))
    extra = [c[main_count:] for c in clusters if len(c) > main_count]
    short = [c for c in clusters if len(c) < main_count]
    rest = [im for c in extra for im in c] + [im for c in short for im in c]
    if rest:
        rest_dist = geometry.project([im.position for im in rest], normal)  # type: ignore[misc]
        rest_sorted = [rest[i] for i in np.argsort(rest_dist, kind="stable")]
        out.append(_Ordered(rest_sorted, 1, [message], odd_paths))
    return out


def group_images(refs: list[tuple[ImageRef, str, str, dict[str, Any]]]
                 ) -> list[SeriesInfo]:
    """Group (image, study uid, series uid, meta) records into ordered SeriesInfo.

    A Series Instance UID shared by images with different Series Numbers (a
    reconstruction saved under the original UID) is split by number first."""
    by_series: dict[tuple[str, str], dict[Any, list[ImageRef]]] = defaultdict(
        lambda: defaultdict(list))
    meta_of: dict[tuple[str, str, Any], dict[str, Any]] = {}
    for im, study, series, meta in refs:
        number = _opt_int(meta.get("SeriesNumber"))
        by_series[(study, series)][number].append(im)
        meta_of.setdefault((study, series, number), meta)
    out: list[SeriesInfo] = []
    for (study, series), by_number in sorted(by_series.items()):
        parts: list[tuple[_Ordered, dict[str, Any]]] = []
        for number in sorted(by_number, key=lambda n: (n is None, n or 0)):
            images = sorted(by_number[number], key=lambda im: (im.path, im.frame))
            by_key: dict[tuple[Any, ...], list[ImageRef]] = defaultdict(list)
            for im in images:
                by_key[_split_key(im)].append(im)
            for key in sorted(by_key, key=repr):
                for group in _split_orientation(by_key[key]):
                    parts.extend((part, meta_of[(study, series, number)])
                                 for part in order_group(group))
        for i, (part, meta) in enumerate(parts):
            first = part.images[0]
            kind = ("mosaic" if first.mosaic_slices and "VFRAME" not in first.image_type
                    else "vframe" if first.mosaic_slices
                    else "nogeometry" if first.position is None or first.orientation is None
                    else "enhanced" if first.number_of_frames > 1 and _is_enhanced_ref(first)
                    else "classic")
            out.append(SeriesInfo(
                uid=series if len(parts) == 1 else f"{series}#{i + 1}",
                study_uid=study, series_uid=series,
                series_number=_opt_int(meta.get("SeriesNumber")),
                description=str(meta.get("SeriesDescription", "") or ""),
                modality=str(meta.get("Modality", "") or ""),
                images=part.images, n_volumes=part.n_volumes, kind=kind,
                meta={**meta, "ImageTypeOfSplit": list(first.image_type)},
                warnings=list(part.warnings), issue_paths=list(part.issue_paths)))
    return out


def _is_enhanced_ref(im: ImageRef) -> bool:
    # enhanced frames carry per-frame positions; classic multi-frame repeat one position
    return im.number_of_frames > 1 and im.frame >= 0 and im.position is not None


# --------------------------------------------------------------------------- entry point


def _scan_one(path: str) -> tuple[list[tuple[ImageRef, str, str, dict[str, Any]]],
                                  Skipped | None]:
    """One file's images (with study, series and series-level meta), or why it is skipped.

    The fast header view is tried first; files it does not cover, or whose values it
    cannot answer for, are read again with pydicom (same results, only slower)."""
    fast = _fast_header(path)
    if fast is not None:
        try:
            return _records_from(fast, path)
        except NeedsFullParse:
            pass
    elif not _may_be_dicom(path):
        return [], Skipped(path, "not DICOM (no DICM prefix and no DICOM attributes)")
    header = read_header(path)
    if isinstance(header, Skipped):
        return [], header
    return _records_from(header, path)


# First group numbers a DICOM dataset without the Part 10 preamble can start with.
_RAW_DATASET_GROUPS = {0x0000, 0x0002, 0x0008}


def _may_be_dicom(path: str) -> bool:
    """Cheap test before asking pydicom: a file with the DICM prefix, or one starting with
    a group-0/2/8 tag (old ACR-NEMA or raw datasets, either byte order)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return True  # let the full reader report why it cannot be read
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    return (int.from_bytes(head[:2], "little") in _RAW_DATASET_GROUPS
            or int.from_bytes(head[:2], "big") in _RAW_DATASET_GROUPS)


def _fast_header(path: str) -> FastHeader | None:
    """The fast view for the plain cases; None where vendor-specific parsing is needed."""
    try:
        header = read_fast_header(path)
    except (OSError, NeedsFullParse):
        return None
    if header is None or "PerFrameFunctionalGroupsSequence" in header:
        return None
    try:
        image_type = {str(v).upper() for v in _as_list(header.get("ImageType", None))}
        vendor = str(header.get("Manufacturer", "") or "")
    except NeedsFullParse:
        return None
    if image_type & {"MOSAIC", "VFRAME"} or "philips" in vendor.lower():
        return None  # CSA / UIH / Philips private elements: pydicom reads those
    return header


def _records_from(header: Any, path: str
                  ) -> tuple[list[tuple[ImageRef, str, str, dict[str, Any]]], Skipped | None]:
    reason = _classify(header, path)
    if reason is not None:
        return [], Skipped(path, reason)
    try:
        images = images_from_header(header, path)
    except NeedsFullParse:
        raise
    except Exception as exc:  # malformed geometry values etc.
        return [], Skipped(path, f"unusable image header: {type(exc).__name__}: {exc}")
    study = str(header.get("StudyInstanceUID", "") or "")
    series = str(header.get("SeriesInstanceUID", "") or "") or f"no-series-uid:{path}"
    meta = series_meta(header)
    return [(im, study, series, meta) for im in images], None


# Below this many files a process pool costs more than it saves.
_PARALLEL_SCAN_MIN_FILES = 200


def _scan_chunk(paths: Sequence[str]) -> list[tuple[list[Any], Skipped | None]]:
    return [_scan_one(path) for path in paths]


def _scan_all(paths: list[str], workers: int | None
              ) -> list[tuple[list[Any], Skipped | None]]:
    """_scan_one over every path, in order; spread over processes for big folders."""
    count = parallel.resolve_workers(workers, max(1, len(paths) // 50))
    if count <= 1 or len(paths) < _PARALLEL_SCAN_MIN_FILES or not parallel.fork_is_safe():
        return [_scan_one(path) for path in paths]
    chunks = parallel.split_evenly(paths, count * 4)
    parts = parallel.map_ordered(_scan_chunk, chunks, count, share_memory=True)
    return [item for part in parts for item in part]


def _dedupe(records: list[tuple[ImageRef, str, str, dict[str, Any]]],
            skipped: list[Skipped]) -> tuple[list[tuple[ImageRef, str, str, dict[str, Any]]],
                                             dict[str, list[str]]]:
    """Drop second copies of the same SOP instance (same frame, same file content).

    Files that share a SOP Instance UID but differ in content (a UID reused by a tool
    that rewrote the pixels) are both kept and reported on their series."""
    first_path: dict[tuple[str, int], str] = {}
    dup_of: dict[str, str] = {}
    clash: dict[str, str] = {}
    kept = []
    for rec in sorted(records, key=lambda r: (r[0].path, r[0].frame)):
        im = rec[0]
        key = (im.sop_instance_uid, im.frame)
        original = first_path.get(key)
        if im.sop_instance_uid and original is not None and original != im.path:
            if _same_content(original, im.path):
                dup_of[im.path] = original
                continue
            clash[im.path] = original
        first_path.setdefault(key, im.path)
        kept.append(rec)
    duplicates: dict[str, list[str]] = defaultdict(list)  # series uid -> messages
    series_of = {r[0].path: r[2] for r in records}
    for path, original in sorted(dup_of.items()):
        skipped.append(Skipped(path, f"duplicate of {original} (same SOP Instance UID)"))
        series = series_of[path]
        duplicates[series].append(f"duplicate instance: {path} repeats {original}")
        duplicates[series + "\0paths"].extend([path, original])
    for path, original in sorted(clash.items()):
        series = series_of[path]
        duplicates[series].append(
            f"{path} has the SOP Instance UID of {original} but different content")
        duplicates[series + "\0paths"].extend([path, original])
    return kept, duplicates


def _same_content(first: str, second: str) -> bool:
    """Byte-identical files (size first, then a hash): only run on a UID collision."""
    try:
        if os.path.getsize(first) != os.path.getsize(second):
            return False
        digests = []
        for path in (first, second):
            with open(path, "rb") as fh:
                digests.append(hashlib.file_digest(fh, "sha1").digest())
        return digests[0] == digests[1]
    except OSError:
        return False


def scan(paths: PathLike | Sequence[PathLike], *, workers: int | None = None) -> ScanResult:
    """Find the series under ``paths`` (folders, files, or a list of both).

    Headers only: pixels are never decoded. Big folders are read by ``workers``
    processes (default: the CPUs available); the result does not depend on it.
    """
    records: list[tuple[ImageRef, str, str, dict[str, Any]]] = []
    skipped: list[Skipped] = []
    for recs, skip in _scan_all(list(iter_files(paths)), workers):
        if skip is not None:
            skipped.append(skip)
        records.extend(recs)
    records, duplicates = _dedupe(records, skipped)
    series = group_images(records)
    for s in series:
        if s.series_uid in duplicates:
            s.warnings.extend(duplicates[s.series_uid])
            s.issue_paths = sorted(set(s.issue_paths) | set(duplicates[s.series_uid + "\0paths"]))
    series.sort(key=lambda s: (s.study_uid, s.series_number if s.series_number is not None
                               else -1, s.uid))
    skipped.sort(key=lambda s: s.path)
    return ScanResult(series=series, skipped=skipped)


__all__ = ["ImageRef", "ScanResult", "SeriesInfo", "Skipped", "scan", "read_header",
           "images_from_header", "iter_files"]
