"""The sidecar keys dcm2niix reads from vendor private elements, the Siemens protocol and
the enhanced-MR attributes, with its rules (nii_dicom.cpp, nii_dicom_batch.cpp).

dcm2niix's header walk sees every element of the file, nested ones included, so an
attribute that an enhanced (or Philips classic) object keeps in a functional group or a
private sequence counts as if it were at the top level. :func:`nested` does the same
over the first item of each sequence; private elements go through their private creator
(:func:`nested_private`), never a fixed element number.

Facts other keys need once the array axes are known (in-plane and out-of-plane
acceleration, phase oversampling, water-fat shift) go on the :class:`Acquisition`; the
writer (``dicomdecode.writers.metadata``) turns them into keys.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from dicomdecode.read import ge
from dicomdecode.read.header import NeedsFullParse
from dicomdecode.read.private import private_value
from dicomdecode.scan.flavours.protocol import protocol_keys, siemens_protocol
from dicomdecode.scan.values import as_list, opt_float, opt_int

if TYPE_CHECKING:
    from dicomdecode.scan.flavours.acquisition import Acquisition

_SIEMENS_HEADER = "SIEMENS MR HEADER"
_SDS, _SDI = "SIEMENS MR SDS 01", "SIEMENS MR SDI 02"
_PHILIPS_IMAGING = "Philips Imaging DD 001"
_PHILIPS_MR = "Philips MR Imaging DD 001"
_PHILIPS_MR5 = "Philips MR Imaging DD 005"
_UIH = "Image Private Header"


def _items(ds: Any, depth: int = 0) -> Iterator[Any]:
    """``ds`` and, depth first, the first item of each of its sequences (8 levels at
    most: a header is not a tree of unbounded depth)."""
    yield ds
    if depth >= 8:
        return
    try:
        elements = list(ds)
    except NeedsFullParse:  # the fast header view: the caller reads the file with pydicom
        raise
    except Exception:  # noqa: BLE001 - an unparsable dataset has no items
        return
    for elem in elements:
        if getattr(elem, "VR", "") != "SQ":
            continue
        try:
            value = elem.value
        except NeedsFullParse:
            raise
        except Exception:  # noqa: BLE001
            continue
        if value:
            yield from _items(value[0], depth + 1)


def nested(ds: Any, keyword: str) -> Any:
    """The first non-empty value of ``keyword`` in ``ds`` or in the first item of any of
    its (nested) sequences, or None."""
    for item in _items(ds):
        try:
            value = item.get(keyword, None)
        except NeedsFullParse:
            raise
        except Exception:  # noqa: BLE001 - an unparsable value is an absent one
            continue
        if value not in (None, ""):
            return value
    return None


def nested_private(ds: Any, group: int, creator: str, offset: int) -> Any:
    """The first value of a private element (through ``creator``) in ``ds`` or in the
    first item of any of its (nested) sequences, or None."""
    for item in _items(ds):
        try:
            value = private_value(item, group, creator, offset)
        except NeedsFullParse:
            raise
        except Exception:  # noqa: BLE001
            continue
        if value not in (None, ""):
            return value
    return None


def _g(value: float) -> int | float:
    """``value`` as C's %g of a 32-bit float writes it (6 significant digits)."""
    value = float(value)
    if not math.isfinite(value):
        return value
    rounded = float(f"{value:.6g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def _text(value: Any) -> str:
    """A (multi-valued) text element as one string, values joined by a backslash; bytes
    (a private element of unknown VR) read as Latin-1 without their padding."""
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("latin-1").strip(" \x00").split("\\")
    return "\\".join(str(v).strip(" \x00") for v in as_list(value)).strip()


def vendor_keys(acq: Acquisition, ds: Any, vendor: str) -> None:
    """Add dcm2niix's vendor and enhanced-MR keys of ``ds`` to ``acq.fields`` (the
    writer puts every key in dcm2niix's order)."""
    out = acq.fields
    modality = str(out.get("Modality", "") or "")
    mr = modality == "MR"
    if vendor == "ge":
        name = str(private_value(ds, 0x0019, "GEMS_ACQU_01", 0x9E) or "").strip()
        if name in ("EPI", "EPI2"):
            out["InternalPulseSequenceName"] = name
    _table_position(out, ds, vendor)
    _states(out, ds)
    if vendor == "philips":
        _philips(acq, ds)
    if vendor == "uih":
        shown = str(private_value(ds, 0x0065, _UIH, 0x05) or "").strip()
        if shown:
            out["PhaseEncodingDirectionDisplayed"] = shown
    if vendor == "ge":
        shims = [opt_int(private_value(ds, 0x0043, ge.PARM_CREATOR, e)) for e in (2, 3, 4)]
        if shims[0] is not None:
            out["ShimSetting"] = [s or 0 for s in shims]
        reuse = _text(private_value(ds, 0x0043, ge.PARM_CREATOR, 0x95))
        if reuse:
            out["PrescanReuseString"] = reuse
    coil_name = _text(nested(ds, "ReceiveCoilName"))
    if vendor == "siemens":
        coil_name = _text(private_value(ds, 0x0051, _SIEMENS_HEADER, 0x0F)) or coil_name
        orientation = _text(private_value(ds, 0x0051, _SIEMENS_HEADER, 0x0E))
        if orientation:
            out["ImageOrientationText"] = orientation
    protocol = siemens_protocol(ds) if vendor == "siemens" else None
    if protocol is not None:
        keys = protocol_keys(protocol, modality)
        acq.phase_oversampling = keys.pop("_phase_oversampling", 0.0)
        elements = keys.pop("_coil_elements", "")
        acq.protocol_phase_lines = keys.pop("_phase_lines", 0)
        if keys.pop("_mt", False) and "MTState" not in out:
            out["MTState"] = True
        if "_accel_pe" in keys:
            acq.accel_pe = keys.pop("_accel_pe")
        if "_accel_3d" in keys:
            acq.accel_oop = keys.pop("_accel_3d")
        out.update(keys)
        if coil_name and elements != coil_name:
            out["CoilString"] = coil_name
        _protocol_slice_times(acq, ds, protocol.integer("sSliceArray.ucMode", -1),
                              float(out.get("DelayTime", 0.0)))
    else:
        elements = ""
        if vendor == "siemens":
            elements = _text(nested_private(ds, 0x0021, _SDI, 0x4F))
            if elements:
                out["ReceiveCoilActiveElements"] = elements
        if coil_name and elements != coil_name:
            out["CoilString"] = coil_name
        acq.estimate_partial_fourier = vendor == "siemens"
    direction = _text(nested(ds, "PartialFourierDirection")).upper()
    for prefix, name in (("P", "PHASE"), ("F", "FREQUENCY"), ("S", "SLICE_SELECT"),
                         ("C", "COMBINATION")):
        if direction.startswith(prefix):
            out["PartialFourierDirection"] = name
            break
    for key, keyword in (("FrequencyEncodingSteps", "MRAcquisitionFrequencyEncodingSteps"),
                         ("PhaseEncodingStepsOutOfPlane",
                          "MRAcquisitionPhaseEncodingStepsOutOfPlane")):
        steps = opt_int(nested(ds, keyword))
        if steps is not None and steps > 0:
            out[key] = steps
    technique = _text(nested(ds, "ParallelAcquisitionTechnique"))
    if technique:
        out["ParallelAcquisitionTechnique"] = technique
    if vendor != "siemens":
        in_plane = opt_float(nested(ds, "ParallelReductionFactorInPlane"))
        # GE's ASSET factor and UIH's "F:2S" (read before) come later in the file than
        # (0018,9069), so they win in dcm2niix's header walk
        if in_plane is not None and in_plane > 0 and vendor not in ("ge", "uih"):
            acq.accel_pe = in_plane
        out_of_plane = opt_float(nested(ds, "ParallelReductionFactorOutOfPlane"))
        if out_of_plane is not None and out_of_plane > 0:
            acq.accel_oop = out_of_plane
    if vendor == "ge":
        factors = [opt_float(v) for v in
                   as_list(private_value(ds, 0x0043, ge.PARM_CREATOR, 0x83))]
        if len(factors) > 1 and factors[1]:
            acq.accel_oop = 1.0 / factors[1]
    duration = None
    if vendor == "ge":
        micro = opt_float(private_value(ds, 0x0019, "GEMS_ACQU_01", 0x5A))
        duration = micro / 1e6 if micro else None
    if not duration:
        duration = opt_float(nested(ds, "AcquisitionDuration"))
    if duration and duration > 0 and vendor != "uih":
        out["AcquisitionDuration"] = _g(duration)
    trajectories = opt_int(nested(ds, "NumberOfKSpaceTrajectories"))
    if trajectories is not None and trajectories > 0:
        out["NumberOfKSpaceTrajectories"] = trajectories
    if not mr:
        for key in ("MTState", "SpoilingState", "SpoilingType"):
            out.pop(key, None)


def _protocol_slice_times(acq: Acquisition, ds: Any, mode: int, delay_s: float) -> None:
    """Siemens mosaics without MosaicRefAcqTimes (VB12): dcm2niix's rescue, slice times
    spread evenly over the TR less the protocol's delay, ascending (mode 1), descending
    (2) or interleaved (4: odd slices first when their number is odd, else even ones),
    in the mosaic's slice order; nothing for multiband or 3D."""
    from dicomdecode.scan.flavours.acquisition import csa_items

    if (acq.slice_times_ms is not None or acq.is_3d or acq.multiband > 1
            or mode not in (1, 2, 4) or not acq.repetition_time_ms):
        return
    n = opt_int((csa_items(ds).get("NumberOfImagesInMosaic") or [None])[0]) or 0
    if n < 2:
        return
    f32 = np.float32
    ta = f32(f32(acq.repetition_time_ms / 1000.0) - f32(delay_s))
    even = [float(f32(f32(f32(i) * ta) / f32(n)) * 1000.0) for i in range(n)]
    acq.slice_times_from_protocol = True
    if mode == 1:
        acq.slice_times_ms = even
    elif mode == 2:
        acq.slice_times_ms = even[::-1]
    else:
        first, second = ((n + 1) // 2, 0) if n % 2 == 0 else (0, (n + 1) // 2)
        times = []
        for i in range(n):
            if i % 2 == 0:
                times.append(even[first])
                first += 1
            else:
                times.append(even[second])
                second += 1
        acq.slice_times_ms = times


def _table_position(out: dict[str, Any], ds: Any, vendor: str) -> None:
    """TablePosition [x, y, z] (mm), z with dcm2niix's sign (its issue 726)."""
    position: list[float] | None = None
    if vendor == "siemens":
        from dicomdecode.scan.flavours.acquisition import csa_items

        values = [opt_float(v) for v in csa_items(ds).get("ImaRelTablePosition") or []]
        if len(values) < 3:
            values = [opt_float(v) for v in as_list(
                private_value(ds, 0x0019, _SIEMENS_HEADER, 0x14))]
        if len(values) < 3:
            values = [opt_float(v) for v in as_list(nested_private(ds, 0x0021, _SDS, 0x05))]
        if len(values) >= 3 and all(v is not None for v in values[:3]):
            x, y, z = (float(v or 0.0) for v in values[:3])
            position = [x, y, -z]
    elif vendor == "ge":
        info = [opt_float(v) for v in as_list(private_value(ds, 0x0043, ge.PARM_CREATOR, 0xB2))]
        if len(info) >= 3 and info[2] is not None:
            delta = opt_float(private_value(ds, 0x0019, "GEMS_ACQU_01", 0x7F)) or 0.0
            position = [0.0, 0.0, info[2] - delta]
    elif vendor == "philips":
        stack_z = opt_float(nested_private(ds, 0x2005, _PHILIPS_MR5, 0x3C))
        if stack_z is not None:
            position = [0.0, 0.0, -stack_z]
    if position is not None:
        out["TablePosition"] = [_g(v) + 0 for v in position]


def _states(out: dict[str, Any], ds: Any) -> None:
    """MTState from Magnetization Transfer, SpoilingState / SpoilingType from Spoiling
    (or "SP" in Sequence Variant when Spoiling is absent)."""
    mt = _text(nested(ds, "MagnetizationTransfer")).upper()
    if mt.startswith("OF"):
        out["MTState"] = True
    elif mt.startswith(("ON", "NO")):
        out["MTState"] = False
    spoiling = _text(nested(ds, "Spoiling")).upper()
    if spoiling:
        # dcm2niix tests "RF" twice for COMBINED, so any RF spoiling is COMBINED there
        kind = ("COMBINED" if "RF" in spoiling else
                "GRADIENT" if "GRADIENT" in spoiling else "")
        if kind or "NONE" in spoiling:
            out["SpoilingState"] = bool(kind)
        if kind:
            out["SpoilingType"] = kind
    elif "\\SP" in str(out.get("SequenceVariant", "")):
        out["SpoilingState"] = True


def _philips(acq: Acquisition, ds: Any) -> None:
    """Philips: real-world value mapping, the three scaling keys (dcm2niix's precise
    float is our default, so UsePhilipsFloatNotDisplayScaling is 1) and the water-fat
    shift (pixels) from (2001,xx22)."""
    out = acq.fields
    rwv = opt_float(nested(ds, "RealWorldValueSlope"))
    if rwv:
        out["PhilipsRWVSlope"] = _g(rwv)
        out["PhilipsRWVIntercept"] = _g(opt_float(nested(ds, "RealWorldValueIntercept")) or 0.0)
    scale = opt_float(nested_private(ds, 0x2005, _PHILIPS_MR, 0x0E))
    if scale:
        slope = opt_float(nested(ds, "RescaleSlope"))
        intercept = opt_float(nested(ds, "RescaleIntercept"))
        out["PhilipsRescaleSlope"] = _g(slope if slope is not None else 1.0)
        out["PhilipsRescaleIntercept"] = _g(intercept or 0.0)
        out["PhilipsScaleSlope"] = _g(scale)
        out["UsePhilipsFloatNotDisplayScaling"] = 1
    shift = opt_float(nested_private(ds, 0x2001, _PHILIPS_IMAGING, 0x22))
    if shift:
        acq.water_fat_shift = shift
        out["WaterFatShift"] = _g(shift)


__all__ = ["nested", "nested_private", "vendor_keys"]
