"""Philips MR vendor rules: the private Scale Slope, read through its private creator.

Philips stores the slope of its floating-point scale, SS in FP = (SV x RS + RI) / (RS x SS),
as element 0x0E of the block reserved by "Philips MR Imaging DD 001" in group 2005
(usually (2005,100E)). Enhanced objects nest it in a private per-frame item.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dicomdecode.read.private import private_block, private_tag

GROUP = 0x2005
CREATOR = "Philips MR Imaging DD 001"
SCALE_SLOPE = 0x0E  # (2005,xx0E) Scale Slope, FL


def _as_float(elem: Any) -> float | None:
    try:
        return float(elem.value)
    except (TypeError, ValueError):
        return None


def scale_slope(ds: Any) -> float | None:
    """The private Scale Slope of a (classic) Philips dataset, or None."""
    tag = private_tag(ds, GROUP, CREATOR, SCALE_SLOPE)
    if tag is None:
        return None
    try:
        elem = ds[tag]
    except KeyError:
        return None
    return _as_float(elem)


def creator_block(ds: Any) -> int | None:
    """The block "Philips MR Imaging DD 001" reserved in group 2005 of ``ds``, or None."""
    return private_block(ds, GROUP, CREATOR)


def nested_scale_slope(groups: Iterable[Any], outer_block: int | None) -> float | None:
    """The Scale Slope in the first item of a sequence of the given functional groups
    (per-frame first, then shared). An item without creator elements of its own uses
    the enclosing dataset's block, ``outer_block`` (from :func:`creator_block`)."""
    for group in groups:
        if group is None:
            continue
        for elem in group:
            if elem.VR == "SQ" and elem.value:
                item = elem.value[0]
                tag = private_tag(item, GROUP, CREATOR, SCALE_SLOPE, scope=outer_block)
                if tag is not None and tag in item:
                    return _as_float(item[tag])
    return None
