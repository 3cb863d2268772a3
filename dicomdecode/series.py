"""What a scan finds: ImageRef, SeriesInfo, ScanResult and Skip (structured data only).

The bottom layer of the scan/assemble chain: plain dataclasses that ``scan`` fills in,
``assemble`` reads, and saved indexes (JSON) round-trip. Nothing here reads files.

A file that is not in any series is a :class:`Skip` with a ``kind`` from the closed set
:data:`SKIP_KINDS`; callers branch on ``kind`` / ``benign``, never on the text of ``detail``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any


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
    #: Echo Time (ms): classic from the file, enhanced per frame (MR Echo Sequence)
    echo_time: float | None = None
    #: Stack ID of an enhanced frame (Frame Content Sequence); None for classic images
    stack_id: str | None = None
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


#: ImageRef's fields in their order, each with its default (required ones: _REQUIRED)
_REQUIRED = object()
_IMAGE_TEMPLATE = {f.name: (_REQUIRED if f.default is dataclasses.MISSING else f.default)
                   for f in dataclasses.fields(ImageRef)}
_IMAGE_REQUIRED = frozenset(k for k, v in _IMAGE_TEMPLATE.items() if v is _REQUIRED)


def image_ref(fields: dict[str, Any]) -> ImageRef:
    """``ImageRef(**fields)``, the same record, made without the frozen dataclass's
    ``__init__``: that sets each of the 33 fields through ``object.__setattr__``, about
    6 us a record, a few percent of a scan's time per file (callgrind, issue 19). A
    missing or unknown field: the dataclass's own TypeError."""
    ref = object.__new__(ImageRef)
    values = ref.__dict__
    values.update(_IMAGE_TEMPLATE)
    values.update(fields)
    if len(values) != len(_IMAGE_TEMPLATE) or not fields.keys() >= _IMAGE_REQUIRED:
        return ImageRef(**fields)  # raises the TypeError that names the field
    return ref


# --------------------------------------------------------------------------- skips

#: Every kind of skip, and what it means. A closed set: scan makes no other kind.
SKIP_KINDS: dict[str, str] = {
    "not_a_file": "the path is not a regular file (or no longer exists)",
    "not_dicom": "not a DICOM file (no DICM prefix and no DICOM attributes)",
    "dicomdir": "a DICOMDIR (a directory index, no image)",
    "no_pixel_data": "a DICOM object that is not an image (structured report, "
                     "presentation state, ...): nothing to convert",
    "duplicate": "a byte-identical copy of an instance that is kept from another file",
    "truncated": "an image object (Rows, or an Image Storage SOP class) without pixel "
                 "data: a truncated or incomplete file",
    "unreadable": "a DICOM file whose header cannot be parsed, or whose image attributes "
                  "are unusable",
}
#: Kinds that mean "not an image, nothing lost"; the others are failures to report.
BENIGN_KINDS = frozenset({"not_a_file", "not_dicom", "dicomdir", "no_pixel_data", "duplicate"})


@dataclass(frozen=True)
class Skip:
    """A file that is not part of any series: what kind of skip, and a human explanation.

    ``kind`` is one of :data:`SKIP_KINDS`; ``detail`` is text for people (not to be
    parsed); ``duplicate_of`` names the kept copy for ``kind == "duplicate"``.
    """

    kind: str
    path: str
    detail: str
    duplicate_of: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SKIP_KINDS:
            raise ValueError(f"unknown skip kind {self.kind!r}; one of {sorted(SKIP_KINDS)}")

    @property
    def reason(self) -> str:
        """The skip as one line of text (the form older versions stored)."""
        return self.detail

    @property
    def benign(self) -> bool:
        """True when nothing was lost (not an image, or a copy of a kept one)."""
        return self.kind in BENIGN_KINDS

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Skip:
        """Current ``{"kind", "path", "detail"[, "duplicate_of"]}`` or an older index's
        ``{"path", "reason"}`` (the kind is then recovered from the text)."""
        if "kind" in d:
            return cls(kind=str(d["kind"]), path=str(d["path"]), detail=str(d.get("detail", "")),
                       duplicate_of=d.get("duplicate_of"))
        return skip_from_reason(str(d["path"]), str(d.get("reason", "")))


#: The old name, kept for code written against it.
Skipped = Skip

_DUPLICATE_PREFIX = "duplicate of "
_DUPLICATE_SUFFIX = " (same SOP Instance UID)"


def skip_from_reason(path: str, reason: str) -> Skip:
    """A Skip from the text form that indexes written before Skip had a kind hold."""
    text = reason.strip().lower()
    if text.startswith(_DUPLICATE_PREFIX):
        original = reason.strip()[len(_DUPLICATE_PREFIX):]
        if original.endswith(_DUPLICATE_SUFFIX):
            original = original[: -len(_DUPLICATE_SUFFIX)]
        return Skip("duplicate", path, reason, duplicate_of=original)
    if text == "no pixel data element":
        return Skip("truncated", path, reason)
    if text.startswith("no pixel data"):
        # as convert decided then: an Image Storage SOP class without pixels is truncated
        match = re.search(r"sop class ([0-9.]+)", text)
        kind = "truncated" if match and _is_image_storage(match.group(1)) else "no_pixel_data"
        return Skip(kind, path, reason)
    for prefix, kind in (("not a file", "not_a_file"), ("not dicom", "not_dicom"),
                         ("dicomdir", "dicomdir"),
                         ("an image object without pixel data", "truncated")):
        if text.startswith(prefix):
            return Skip(kind, path, reason)
    return Skip("unreadable", path, reason)


def _is_image_storage(sop_class: str) -> bool:
    try:
        from pydicom.uid import UID
    except ImportError:  # pragma: no cover - pydicom is a dependency
        return False
    return "Image Storage" in UID(sop_class.rstrip(".")).name


# --------------------------------------------------------------------------- series


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
        """Stored images per volume (a mosaic counts as one; see ``shape`` for slices)."""
        return len(self.images) // max(self.n_volumes, 1)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the array ``load_series`` returns when every image decodes:
        ``(volumes, slices, rows, columns[, samples])``, without the volume axis when
        there is one volume. A mosaic image contributes its tiles as slices."""
        first = self.images[0]
        samples = (first.samples_per_pixel,) if first.samples_per_pixel > 1 else ()
        if first.mosaic_slices and first.mosaic_tile:
            # each image is a whole volume of tiles (assembly stacks images as volumes)
            dims: tuple[int, ...] = (len(self.images), first.mosaic_slices, *first.mosaic_tile)
        else:
            dims = (max(self.n_volumes, 1), self.n_slices, first.rows, first.columns)
        if max(self.n_volumes, 1) == 1:
            dims = dims[1:]
        return dims + samples

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesInfo:
        d = dict(d)
        d["images"] = [_image_from_dict(im) for im in d["images"]]
        return cls(**d)


_TUPLE_FIELDS = frozenset({"position", "orientation", "pixel_spacing", "image_type",
                           "mosaic_tile", "mosaic_normal"})


def _image_from_dict(d: dict[str, Any]) -> ImageRef:
    values: dict[str, Any] = {k: (tuple(v) if k in _TUPLE_FIELDS and v is not None else v)
                              for k, v in d.items()}
    return ImageRef(**values)


@dataclass
class ScanResult:
    """Series found and files skipped (each with a structured reason)."""

    series: list[SeriesInfo] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    #: the staged copies of in-memory inputs (kept alive with the result; not saved)
    staging: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (save it as an index for data loaders)."""
        return {"series": [s.to_dict() for s in self.series],
                "skipped": [s.to_dict() for s in self.skipped]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScanResult:
        """Also reads indexes written before skips had a kind (``{"path", "reason"}``)."""
        return cls(series=[SeriesInfo.from_dict(s) for s in d.get("series", [])],
                   skipped=[Skip.from_dict(s) for s in d.get("skipped", [])])


__all__ = ["BENIGN_KINDS", "SKIP_KINDS", "ImageRef", "ScanResult", "SeriesInfo", "Skip",
           "Skipped", "skip_from_reason"]
