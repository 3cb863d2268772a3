"""Grouping: images -> series that can each be one volume, in (volume, slice) order.

Images are grouped by study + series UID (and Series Number, when a reconstruction
reuses the UID), then split by named rules where one series cannot be one volume:

* key rules (:data:`SPLIT_RULES`): each a small function of one image; images whose
  values differ never share a volume (size, pixel spacing, localizer, echo number,
  image type, mosaic layout);
* :func:`split_orientation`: images whose orientations differ (within tolerance);
* :func:`order_group`: acquisition/temporal position and the 4D axis: images are put in
  geometric order (projection on the slice normal); repeated positions become volumes
  of a 4th axis, ordered by temporal position, acquisition time and instance number, when
  every position repeats equally often, and are split off when they repeat irregularly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dicomdecode import geometry
from dicomdecode.scan.values import opt_int
from dicomdecode.series import ImageRef, SeriesInfo

#: Image Type values that change what a pixel means; others (GE CT "ADD") vary
#: harmlessly between slices and do not split a series.
PIXEL_MEANING_TYPES = frozenset({
    "M", "P", "R", "I", "MAGNITUDE", "PHASE", "REAL", "IMAGINARY", "FIELD_MAP", "B0",
    "PHASE_MAP", "T1_MAP", "T2_MAP", "ADC", "FA", "TRACEW", "DIFFUSION",
})

#: One record per image: (image, study uid, series uid, series-level meta).
Record = tuple[ImageRef, str, str, dict[str, Any]]


# --------------------------------------------------------------------------- split rules


def split_by_size(im: ImageRef) -> tuple[Any, ...]:
    """Matrix and pixel container: rows, columns, samples, bits allocated, signedness."""
    return (im.rows, im.columns, im.samples_per_pixel, im.bits_allocated,
            im.pixel_representation)


def split_by_pixel_spacing(im: ImageRef) -> tuple[Any, ...]:
    return (tuple(round(v, 4) for v in im.pixel_spacing) if im.pixel_spacing else None,)


def split_by_localizer(im: ImageRef) -> tuple[Any, ...]:
    return ("LOCALIZER" in im.image_type or "SCOUT" in im.image_type,)


def split_by_echo(im: ImageRef) -> tuple[Any, ...]:
    """Echo Number and Echo Time (as dcm2niix, which never stacks different TEs): an
    enhanced frame carries only its Effective Echo Time, a classic file both, so the same
    echoes split apart whichever the export."""
    return (im.echo_number, None if im.echo_time is None else round(im.echo_time, 2))


def split_by_stack(im: ImageRef) -> tuple[Any, ...]:
    """Stack ID of enhanced frames: separate stacks of one object are separate volumes."""
    return (im.stack_id,)


def split_by_image_type(im: ImageRef) -> tuple[Any, ...]:
    """Magnitude / phase / real / imaginary / maps: only the values in
    :data:`PIXEL_MEANING_TYPES`."""
    return (tuple(sorted(set(im.image_type) & PIXEL_MEANING_TYPES)),)


def split_by_mosaic(im: ImageRef) -> tuple[Any, ...]:
    """Mosaic layout (tiles per image and their size); 0 and None for plain images."""
    return (im.mosaic_slices, im.mosaic_tile)


def split_by_multiframe_without_geometry(im: ImageRef) -> tuple[Any, ...]:
    """A multi-frame file without Image Position is a volume of its own (as dcm2niix):
    with no position to order by, its frames must not interleave with other files'."""
    return (im.path if im.position is None and im.number_of_frames > 1 else None,)


#: (name, rule) in key order: images with different keys cannot share one volume.
SPLIT_RULES: list[tuple[str, Callable[[ImageRef], tuple[Any, ...]]]] = [
    ("size", split_by_size),
    ("pixel spacing", split_by_pixel_spacing),
    ("localizer", split_by_localizer),
    ("echo", split_by_echo),
    ("stack", split_by_stack),
    ("image type", split_by_image_type),
    ("mosaic", split_by_mosaic),
    ("multi-frame file without geometry", split_by_multiframe_without_geometry),
]


def split_key(im: ImageRef) -> tuple[Any, ...]:
    """The values of every split rule for one image, as one flat tuple."""
    key: tuple[Any, ...] = ()
    for _name, rule in SPLIT_RULES:
        key += rule(im)
    return key


def split_orientation(images: list[ImageRef]) -> list[list[ImageRef]]:
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


# --------------------------------------------------------------------------- ordering


def temporal_key(im: ImageRef) -> tuple[Any, ...]:
    """Order of images at one position (4th axis): as dcm2niix, time then instance."""
    return (im.temporal_index if im.temporal_index is not None else 0,
            im.acquisition_time if im.acquisition_time is not None else 0.0,
            im.instance_number if im.instance_number is not None else 0,
            im.path, im.frame)


@dataclass
class Ordered:
    """One volume-ready group: images in (volume, slice) order."""

    images: list[ImageRef]
    n_volumes: int
    warnings: list[str] = field(default_factory=list)
    issue_paths: list[str] = field(default_factory=list)


def order_group(images: list[ImageRef]) -> list[Ordered]:
    """Put one homogeneous group in (volume, slice) order; split irregular repeats."""
    if any(im.position is None or im.orientation is None for im in images):
        ordered = sorted(images, key=temporal_key)
        return [Ordered(ordered, 1)]
    normal = np.asarray(images[0].mosaic_normal) if images[0].mosaic_normal else \
        geometry.slice_normal(images[0].orientation or ())
    dist = geometry.project([im.position for im in images], normal)  # type: ignore[misc]
    clusters = [sorted((images[i] for i in c), key=temporal_key)
                for c in geometry.cluster_positions(dist)]
    counts = {len(c) for c in clusters}
    if len(counts) == 1:
        k = counts.pop()
        return [Ordered([c[v] for v in range(k) for c in clusters], k)]
    # Irregular: volume v holds the v-th repeat of every position that has one.
    k = max(len(c) for c in clusters)
    full = [c for c in clusters if len(c) == k]
    message = (f"positions repeat irregularly ({sorted({len(c) for c in clusters})} images per "
               f"position over {len(clusters)} positions); split into separate volumes")
    by_count: dict[int, list[list[ImageRef]]] = defaultdict(list)
    for c in clusters:
        by_count[len(c)].append(c)
    out: list[Ordered] = []
    odd_paths = sorted({im.path for c in clusters if len(c) != k for im in c}
                       | {im.path for c in full for im in c[1:]})
    # The most common repeat count forms the main series; the rest split off per repeat.
    main_count = max(by_count, key=lambda n: (len(by_count[n]), n))
    main = [c for c in clusters if len(c) >= main_count]
    out.append(Ordered([c[v] for v in range(main_count) for c in main], main_count,
                       [message], odd_paths))
    extra = [c[main_count:] for c in clusters if len(c) > main_count]
    short = [c for c in clusters if len(c) < main_count]
    rest = [im for c in extra for im in c] + [im for c in short for im in c]
    if rest:
        rest_dist = geometry.project([im.position for im in rest], normal)  # type: ignore[misc]
        rest_sorted = [rest[i] for i in np.argsort(rest_dist, kind="stable")]
        out.append(Ordered(rest_sorted, 1, [message], odd_paths))
    return out


# --------------------------------------------------------------------------- series


def series_kind(first: ImageRef) -> str:
    """classic | enhanced | mosaic | vframe | nogeometry, from a series' first image."""
    if first.mosaic_slices:
        return "vframe" if "VFRAME" in first.image_type else "mosaic"
    if first.position is None or first.orientation is None:
        return "nogeometry"
    # any multi-frame object with geometry (enhanced, and as it stands classic multi-frame
    # and RT Dose too)
    if first.number_of_frames > 1 and first.frame >= 0:
        return "enhanced"
    return "classic"


def group_images(refs: list[Record]) -> list[SeriesInfo]:
    """Group (image, study uid, series uid, meta) records into ordered SeriesInfo.

    A Series Instance UID shared by images with different Series Numbers (a
    reconstruction saved under the original UID) is split by number first."""
    by_series: dict[tuple[str, str], dict[Any, list[ImageRef]]] = defaultdict(
        lambda: defaultdict(list))
    # series-level meta of each part comes from its own first image: parts split off by
    # size or samples (one UID reused for a grey and a colour image) differ in it
    meta_of: dict[int, dict[str, Any]] = {}
    for im, study, series, meta in refs:
        number = opt_int(meta.get("SeriesNumber"))
        by_series[(study, series)][number].append(im)
        meta_of[id(im)] = meta
    out: list[SeriesInfo] = []
    for (study, series), by_number in sorted(by_series.items()):
        parts: list[tuple[Ordered, dict[str, Any]]] = []
        for number in sorted(by_number, key=lambda n: (n is None, n or 0)):
            images = sorted(by_number[number], key=lambda im: (im.path, im.frame))
            by_key: dict[tuple[Any, ...], list[ImageRef]] = defaultdict(list)
            for im in images:
                by_key[split_key(im)].append(im)
            for key in sorted(by_key, key=repr):
                for group in split_orientation(by_key[key]):
                    parts.extend((part, meta_of[id(part.images[0])])
                                 for part in order_group(group))
        for i, (part, meta) in enumerate(parts):
            first = part.images[0]
            out.append(SeriesInfo(
                uid=series if len(parts) == 1 else f"{series}#{i + 1}",
                study_uid=study, series_uid=series,
                series_number=opt_int(meta.get("SeriesNumber")),
                description=str(meta.get("SeriesDescription", "") or ""),
                modality=str(meta.get("Modality", "") or ""),
                images=part.images, n_volumes=part.n_volumes, kind=series_kind(first),
                meta={**meta, "ImageTypeOfSplit": list(first.image_type)},
                warnings=list(part.warnings), issue_paths=list(part.issue_paths)))
    return out
