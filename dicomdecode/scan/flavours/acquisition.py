"""Acquisition facts for a BIDS sidecar, with the vendor rules dcm2niix uses.

One parsed header (the first image of a series, read by pydicom so private elements are
there) gives :class:`Acquisition`: the plain header values under dcm2niix's BIDS names
and units (times in seconds), plus the vendor facts that need geometry before they
become sidecar keys (the writer turns them into PhaseEncodingDirection, ReconMatrixPE,
EffectiveEchoSpacing, TotalReadoutTime and SliceTiming once it knows the array axes).

Vendor rules (as dcm2niix reads them), each through its private creator:

=========  ===================================================================
Siemens    CSA image header (nibabel's reader): PhaseEncodingDirectionPositive,
           BandwidthPerPixelPhaseEncode, MosaicRefAcqTimes (slice times, ms);
           XA: (0021,xx1C) "SIEMENS MR SDS 01" polarity; (0051,xx11) / (0021,xx09)
           "p2" in-plane acceleration
GE         (0018,9034) polarity (RX27+), else the raw header in (0043,xx2A);
           (0043,xx2C) echo spacing (us), (0043,xx83) ASSET factor, (0043,xx7C)
           group delay; slice times from the Protocol Data Block (epiRT / fMRI)
UIH        (0065,xx58) polarity (1 = flipped), (0065,xx0D) "F:2S" acceleration;
           slice times from each slice's Acquisition Time
Philips    no polarity in DICOM: only the phase-encoding axis is known
Canon      standard attributes only
=========  ===================================================================

The other keys dcm2niix reads from vendor elements, the Siemens protocol block and the
enhanced-MR functional groups come from :mod:`.vendor_keys` and :mod:`.protocol`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dicomdecode.read import ge
from dicomdecode.read.header import NeedsFullParse
from dicomdecode.read.private import private_value
from dicomdecode.scan.flavours.vendor_keys import nested, vendor_keys
from dicomdecode.scan.values import as_list, first_value, floats, opt_float, opt_int, tm_seconds

#: dcm2niix's spelling of each vendor in "Manufacturer".
MANUFACTURER_NAMES = {"siemens": "Siemens", "ge": "GE", "philips": "Philips", "uih": "UIH",
                      "canon": "Canon", "hitachi": "Hitachi"}

# (BIDS key, DICOM keyword, kind) in dcm2niix's order. kinds: "str" (multi-values joined
# with a backslash), "num", "int", "list", "s" (milliseconds -> seconds).
_HEAD: tuple[tuple[str, str, str], ...] = (
    ("Modality", "Modality", "str"),
    ("MagneticFieldStrength", "MagneticFieldStrength", "num"),
    ("ImagingFrequency", "ImagingFrequency", "num"),
)
_IDENTITY: tuple[tuple[str, str, str], ...] = (
    ("ManufacturersModelName", "ManufacturerModelName", "str"),
    ("InstitutionName", "InstitutionName", "str"),
    ("InstitutionalDepartmentName", "InstitutionalDepartmentName", "str"),
    ("InstitutionAddress", "InstitutionAddress", "long"),
    ("DeviceSerialNumber", "DeviceSerialNumber", "str"),
    ("StationName", "StationName", "str"),
    ("BodyPart", "BodyPartExamined", "str"),
    ("PatientPosition", "PatientPosition", "str"),
    ("ProcedureStepDescription", "PerformedProcedureStepDescription", "long"),
    ("SoftwareVersions", "SoftwareVersions", "str"),
)
_SEQUENCE: tuple[tuple[str, str, str], ...] = (
    ("StudyDescription", "StudyDescription", "str"),
    ("SeriesDescription", "SeriesDescription", "str"),
    ("ProtocolName", "ProtocolName", "str"),
    ("ScanningSequence", "ScanningSequence", "str"),
    ("SequenceVariant", "SequenceVariant", "str"),
    ("ScanOptions", "ScanOptions", "long"),
    ("SequenceName", "SequenceName", "str"),
)
_TIMING: tuple[tuple[str, str, str], ...] = (
    ("ConvolutionKernel", "ConvolutionKernel", "str"),
    ("ExposureTime", "ExposureTime", "s"),
    ("XRayTubeCurrent", "XRayTubeCurrent", "num"),
    ("XRayExposure", "Exposure", "num"),
    ("SliceThickness", "SliceThickness", "num"),
    ("SpacingBetweenSlices", "SpacingBetweenSlices", "num"),
    ("SAR", "SAR", "num"),
    ("EchoTime", "EchoTime", "s"),
    ("RepetitionTime", "RepetitionTime", "s"),
    ("InversionTime", "InversionTime", "s"),
    ("FlipAngle", "FlipAngle", "num"),
    ("PercentPhaseFOV", "PercentPhaseFieldOfView", "num"),
    ("PercentSampling", "PercentSampling", "num"),
)


@dataclass
class Acquisition:
    """What one header says about the acquisition.

    ``fields`` are sidecar keys ready to write (BIDS names, seconds). The rest are
    vendor facts the writer combines with the array geometry."""

    fields: dict[str, Any] = field(default_factory=dict)
    vendor: str = ""
    #: "ROW" or "COL" (In-plane Phase Encoding Direction), "" when unknown
    phase_axis: str = ""
    #: 1 positive, 0 negative (flipped), None unknown
    phase_positive: int | None = None
    #: phase-encoding lines (Acquisition Matrix)
    phase_lines: int = 0
    bandwidth_per_pixel_pe: float = 0.0
    accel_pe: float = 0.0
    #: GE effective echo spacing in microseconds (0043,xx2C)
    echo_spacing_ge_us: float = 0.0
    #: Siemens CSA MosaicRefAcqTimes or GE protocol-derived times (ms), slice order of
    #: the mosaic / acquisition; None when unknown
    slice_times_ms: list[float] | None = None
    multiband: int = 1
    is_3d: bool = False
    echo_train_length: int = 0
    #: Pixel Bandwidth (Hz), written after the readout keys as dcm2niix orders them
    pixel_bandwidth: float | None = None
    #: Siemens RealDwellTime (CSA, ns) in seconds
    dwell_time_s: float = 0.0
    #: DICOM Acquisition Time as a number (HHMMSS.fff), for the NIfTI descrip
    acquisition_time_number: float | None = None
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None
    #: how slice times are to be gathered per slice ("acquisition_time" for UIH)
    per_slice_times: str = ""
    #: UIH VFRAME: (tile position, time in ms from the earliest tile) per tile
    tile_times_ms: list[tuple[tuple[float, ...], float]] | None = None
    #: UIH: TotalReadoutTime (s) from Acquisition Duration, used when no echo spacing
    readout_s: float = 0.0
    #: "instance": ``slice_times_ms`` run in Instance Number order (GE, from the first
    #: prescribed slice); "" : in the image's own slice order (Siemens mosaic)
    slice_times_order: str = ""
    #: out-of-plane (slice) acceleration; 0 when unknown
    accel_oop: float = 0.0
    #: Siemens protocol: phase oversampling (fraction) and phase-encoding lines
    phase_oversampling: float = 0.0
    protocol_phase_lines: int = 0
    #: Siemens without a protocol block: PartialFourier estimated from the echo train
    estimate_partial_fourier: bool = False
    #: Philips water-fat shift (pixels), 0 when unknown
    water_fat_shift: float = 0.0
    #: slice times from the Siemens protocol (VB12 mosaics), not the CSA: dcm2niix
    #: leaves the NIfTI slice_code unknown for them
    slice_times_from_protocol: bool = False
    #: whether the header has Image Orientation (Patient) (dcm2niix writes
    #: ImageOrientationPatientDICOM only then, never a guessed one)
    has_orientation: bool = True


def _value(ds: Any, keyword: str, kind: str) -> Any:
    raw = _lookup(ds, keyword)
    if raw is None or raw == "":
        return None
    if kind in ("str", "long"):
        text = "\\".join(str(v).strip() for v in as_list(raw)).strip()
        return _dcm2niix_text(text, 256 if kind == "long" else 66) or None
    if kind == "list":
        return [str(v).strip() for v in as_list(raw)]
    values = as_list(raw)
    number = opt_float(values[0]) if values else None
    if number is None or not math.isfinite(number) or number <= 0:
        return None  # dcm2niix writes positive numbers only
    if kind == "s":
        return round(number / 1000.0, 9)
    if kind == "int":
        return int(number)
    return int(number) if number.is_integer() else number


def _dcm2niix_text(text: str, size: int) -> str:
    """``text`` cut as dcm2niix stores it: in a C string of ``size`` bytes (65 characters
    for most attributes, 255 for the long ones), two fewer when the cut falls just after
    an underscore."""
    if len(text) < size:
        return text
    keep = size - 1
    if text[size - 2] == "_":
        keep = size - 3
    return text[:keep]


#: dcm2niix's manufacturer from the first two letters of Manufacturer, and its spelling
_MAKERS = {"SI": "Siemens", "GE": "GE", "HI": "Hitachi", "ME": "Mediso", "PH": "Philips",
           "TO": "Toshiba", "CA": "Canon", "CP": "Siemens", "UI": "UIH", "BR": "Bruker",
           "MR": "MRSolutions", "HY": "Hyperfine"}

#: the modalities dcm2niix names in "Modality"
_MODALITIES = ("CR", "CT", "MR", "PT", "US")


def _add(out: dict[str, Any], ds: Any, table: tuple[tuple[str, str, str], ...]) -> None:
    for key, keyword, kind in table:
        value = _value(ds, keyword, kind)
        if value is not None:
            out[key] = value


def csa_items(ds: Any) -> dict[str, Any]:
    """The Siemens CSA image header's tags as ``{name: items}`` ({} when absent)."""
    return _csa(ds)


def _csa(ds: Any) -> dict[str, Any]:
    """The Siemens CSA image header's tags as ``{name: items}`` ({} when absent)."""
    try:
        with warnings.catch_warnings():  # nibabel.nicom warns "experimental" on import
            warnings.simplefilter("ignore")
            from nibabel.nicom import csareader
        csa = csareader.get_csa_header(ds, "image")
    except NeedsFullParse:  # the fast header view: the caller reads the file with pydicom
        raise
    except Exception:  # noqa: BLE001 - a malformed CSA header is no CSA header
        return {}
    if not csa:
        return {}
    return {name: tag.get("items", []) for name, tag in csa.get("tags", {}).items()}


def _csa_times(csa: dict[str, Any]) -> list[float] | None:
    """MosaicRefAcqTimes (ms) from the earliest, or None."""
    times = [float(t) for t in csa.get("MosaicRefAcqTimes") or []]
    if len(times) < 2:
        return None
    low = min(times)
    return [t - low for t in times]


def diffusion_of(ds: Any, vendor: str, frame: int = 0) -> tuple[float, tuple[float, ...]] | None:
    """(b-value in s/mm2, gradient direction in patient LPS) of one image (``frame`` of an
    enhanced object), or None when the header has no diffusion encoding. Standard MR
    Diffusion attributes first, then the vendor's: Siemens CSA B_value /
    DiffusionGradientDirection, UIH (0065,xx09) / (0065,xx37)."""
    item: Any = ds
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", None)
    if per_frame and 0 <= frame < len(per_frame):
        seq = per_frame[frame].get("MRDiffusionSequence", None) or _shared_diffusion(ds)
        if seq:
            item = seq[0]
    bvalue = opt_float(item.get("DiffusionBValue", None))
    gradient: Any = item.get("DiffusionGradientOrientation", None)
    directions = item.get("DiffusionGradientDirectionSequence", None)
    if gradient is None and directions:
        gradient = directions[0].get("DiffusionGradientOrientation", None)
    if vendor == "siemens" and bvalue is None:
        csa = _csa(ds)
        found = csa.get("B_value") or []
        bvalue = float(found[0]) if found else None
        gradient = csa.get("DiffusionGradientDirection") or gradient
    elif vendor == "uih" and bvalue is None:
        bvalue = opt_float(private_value(ds, 0x0065, "Image Private Header", 0x09))
        private = private_value(ds, 0x0065, "Image Private Header", 0x37)
        if private is not None:  # UIH gives it in the image frame (row, column, normal)
            gradient = _image_to_patient(ds, private)
    if bvalue is None:
        return None
    vector = tuple(opt_float(v) or 0.0 for v in as_list(gradient))
    if len(vector) != 3 or bvalue <= 0:
        vector = (0.0, 0.0, 0.0)
    return bvalue, vector


def _image_to_patient(ds: Any, vector: Any) -> tuple[float, ...] | None:
    """A vector in the image frame (row direction, column direction, normal) in patient
    LPS coordinates, from Image Orientation (Patient)."""
    iop = floats(ds.get("ImageOrientationPatient", None), 6)
    v = floats(vector, 3)
    if iop is None or v is None:
        return None
    row, col = np.asarray(iop[:3]), np.asarray(iop[3:])
    return tuple(float(x) for x in v[0] * row + v[1] * col + v[2] * np.cross(row, col))


def _shared_diffusion(ds: Any) -> Any:
    shared = ds.get("SharedFunctionalGroupsSequence", None)
    return shared[0].get("MRDiffusionSequence", None) if shared else None


def csa_slice_times(ds: Any) -> list[float] | None:
    """The Siemens CSA slice times (ms, from the earliest) of one header, or None."""
    return _csa_times(_csa(ds))


def _accel_text(text: Any, key: str) -> float:
    """"p2" / "p2s4" (Siemens) or "F:2S" (UIH) -> the number after ``key``."""
    m = re.search(re.escape(key) + r"\s*([0-9.]+)", str(text or ""))
    try:
        return float(m.group(1)) if m else 0.0
    except ValueError:
        return 0.0


def _image_type(ds: Any, vendor: str) -> list[str] | None:
    """Image Type as dcm2niix lists it: values split at "\\" and "_", and MAGNITUDE /
    PHASE / REAL / IMAGINARY appended where the image says so elsewhere (the third value
    M/P/R/I, Complex Image Component of an enhanced object, GE's private image type)."""
    values = [part.strip() for v in as_list(ds.get("ImageType", None))
              for part in str(v).split("_") if part.strip()]
    if not values:
        return None
    upper = [v.upper() for v in values]
    kind = ""
    if len(upper) > 2:
        kind = {"M": "MAGNITUDE", "P": "PHASE", "R": "REAL", "I": "IMAGINARY"}.get(upper[2], "")
    component = str(_lookup(ds, "ComplexImageComponent") or "").strip().upper()
    if component in ("MAGNITUDE", "PHASE", "REAL", "IMAGINARY"):
        kind = component
    if vendor == "ge":
        ge_type = opt_int(private_value(ds, 0x0043, ge.PARM_CREATOR, 0x2F))
        if ge_type is not None:
            kind = {0: "MAGNITUDE", 1: "PHASE", 2: "REAL", 3: "IMAGINARY"}.get(ge_type, "")
    if kind and kind not in upper:
        values.append(kind)
    return values


_DERIVED_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66", "1.3.46.670589.11.0.0.12.",
                        "1.2.840.10008.5.1.4.1.1.11.1")


def _is_derived(ds: Any) -> bool:
    """dcm2niix's "derived" (its "RawImage": false): DERIVED, ADC, TRACE(W) or FA in Image
    Type, or a segmentation, raw-data or presentation-state object. (Its 2024 source
    also calls palette images derived and skips them; the 2026 oracle converts them as
    raw images.)"""
    joined = "_" + "_".join(str(v).strip() for v in as_list(ds.get("ImageType", None))) + "_"
    if len(joined) > 8 and "DERIVED" in joined:
        return True
    if any(tag in joined for tag in ("_ADC_", "_TRACEW_", "_TRACE_", "_FA_")):
        return True
    meta = getattr(ds, "file_meta", None)
    sop = str((meta.get("MediaStorageSOPClassUID", "") if meta is not None else "")
              or ds.get("SOPClassUID", "") or "")
    return sop.startswith(_DERIVED_SOP_CLASSES)


def _acquisition_time(ds: Any) -> tuple[str | None, bool]:
    """(Acquisition Time as TM text, whether a date goes with it): Acquisition Time and
    Date, else the time part of Acquisition Date Time (enhanced objects)."""
    time = ds.get("AcquisitionTime", None)
    if time not in (None, ""):
        return str(time), bool(ds.get("AcquisitionDate", None))
    stamp = str(ds.get("AcquisitionDateTime", "") or "").strip()
    if len(stamp) >= 10:
        return stamp[8:].split("+")[0].split("-")[0], True
    return None, False


def _clock(number: float | None, seconds: float) -> str:
    """HH:MM:SS.ffffff as dcm2niix writes it: from the HHMMSS.ffffff number rounded to
    five decimals (its "%+013.5f"), so the seconds keep the text's digits; from the
    seconds of the day when the number is unknown."""
    if number is not None and 0 <= number < 240000:
        text = f"{number:+013.5f}"
        return f"{int(text[1:3]):02d}:{int(text[3:5]):02d}:{float(text[5:]):09.6f}"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:09.6f}"


def _lookup(ds: Any, keyword: str) -> Any:
    """``keyword`` at the top level, or (enhanced objects) in the shared functional
    groups, or in the first frame's: Echo Time, Repetition Time, Flip Angle and the
    like live there."""
    try:
        value = ds.get(keyword, None)
    except NeedsFullParse:
        raise
    except Exception:  # noqa: BLE001 - an unparsable value is an absent one
        return None
    if value not in (None, ""):
        return value
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        seq = ds.get(groups, None)
        if not seq:
            continue
        for macro in seq[0]:
            if getattr(macro, "VR", "") != "SQ" or not macro.value:
                continue
            item = macro.value[0]
            if keyword in item and item.get(keyword, None) not in (None, ""):
                return item.get(keyword)
    return None


def acquisition_of(ds: Any, vendor: str) -> Acquisition:
    """The :class:`Acquisition` of one (pydicom) header; ``vendor`` from
    :func:`dicomdecode.scan.flavours.base.vendor_of`."""
    acq = Acquisition(vendor=vendor)
    out = acq.fields
    _add(out, ds, _HEAD)
    maker = str(ds.get("Manufacturer", "") or "")
    if maker[:2].upper() in _MAKERS:  # dcm2niix names only the makers it knows
        out["Manufacturer"] = _MAKERS[maker[:2].upper()]
    if out.get("Modality") not in _MODALITIES:
        out.pop("Modality", None)
    _add(out, ds, _IDENTITY)
    mr = str(ds.get("Modality", "") or "").upper() == "MR"
    kind = str(_lookup(ds, "MRAcquisitionType") or "").upper()
    acq.is_3d = kind == "3D"
    if mr and kind in ("2D", "3D"):
        out["MRAcquisitionType"] = kind
    _add(out, ds, _SEQUENCE)
    if "SequenceName" not in out:  # enhanced MR: Pulse Sequence Name
        name = _value(ds, "PulseSequenceName", "str")
        if name:
            out["SequenceName"] = name
    if len(out.get("ProtocolName", "")) < 1:  # dcm2niix: the series description, else
        # the sequence name (not Siemens: it varies per volume there)
        if len(out.get("SeriesDescription", "")) > 1:
            out["ProtocolName"] = out["SeriesDescription"]
        elif len(str(ds.get("SequenceName", "") or "").strip()) > 1 and vendor != "siemens":
            out["ProtocolName"] = _value(ds, "SequenceName", "str")
    if "ProtocolName" in out and "_MOCO_" in "_" + "_".join(
            str(v).strip() for v in as_list(ds.get("ImageType", None))) + "_":
        out["ProtocolName"] += "_MoCo"
    image_type = _image_type(ds, vendor)
    if image_type:
        out["ImageType"] = image_type
        tokens = {t.upper() for t in image_type}
        if tokens & {"DIS2D", "DIS3D"}:  # Siemens: distortion correction applied or not
            out["NonlinearGradientCorrection"] = True
        elif "ND" in tokens:
            out["NonlinearGradientCorrection"] = False
    if _is_derived(ds):
        out["RawImage"] = False
    deid = [str(v).strip() for v in as_list(ds.get("DeidentificationMethod", None))
            if str(v).strip()]
    if deid:
        out["DeidentificationMethod"] = deid
    series = opt_int(ds.get("SeriesNumber", None))
    if series is not None and series > 0:
        out["SeriesNumber"] = series
    time_text, dated = _acquisition_time(ds)
    seconds = tm_seconds(time_text)
    if seconds is not None and seconds > 0:
        acq.acquisition_time_number = opt_float(str(time_text).replace(":", ""))
        if dated:
            out["AcquisitionTime"] = _clock(acq.acquisition_time_number, seconds)
    number = opt_int(ds.get("AcquisitionNumber", None))
    if number is not None and number > 0:
        out["AcquisitionNumber"] = number
    comments = _value(ds, "ImageComments", "long")
    if comments:
        out["ImageComments"] = comments
    _add(out, ds, _TIMING)
    averages = _value(ds, "NumberOfAverages", "num")
    if isinstance(averages, int | float) and averages > 1:
        out["NumberOfAverages"] = averages
    echo_number = opt_int(_lookup(ds, "EchoNumbers"))
    if echo_number is not None and echo_number > 1:
        out["EchoNumber"] = echo_number
    if "InversionTime" not in out:  # enhanced MR (Siemens XA MPRAGE): Inversion Times (ms)
        inversion = opt_float(first_value(nested(ds, "InversionTimes")))
        if inversion is not None and inversion > 0:
            out["InversionTime"] = round(inversion / 1000.0, 9)
    if "EchoTime" not in out:  # enhanced MR: Effective Echo Time (ms)
        echo = _value(ds, "EffectiveEchoTime", "s")
        if echo:
            out["EchoTime"] = echo
    if out.get("Modality") != "MR":
        out.pop("MagneticFieldStrength", None)
    # dcm2niix's X-ray rule: Exposure (0018,1152) in a header without an Echo Time makes
    # it an X-ray image, whose exposure is written and whose slice thickness and spacing
    # are not (they often vary)
    exposure = out.pop("XRayExposure", None)
    if exposure is not None and "EchoTime" not in out and ds.get("EchoTime", None) in (None, ""):
        out["XRayExposure"] = exposure
        out.pop("SliceThickness", None)
        out.pop("SpacingBetweenSlices", None)
    acq.echo_time_ms = out["EchoTime"] * 1000.0 if "EchoTime" in out else None
    rt = out.get("RepetitionTime")
    acq.repetition_time_ms = rt * 1000.0 if isinstance(rt, int | float) else None
    if "ImagingFrequency" not in out and out.get("Modality") == "MR":
        transmit = _value(ds, "TransmitterFrequency", "num")  # enhanced MR
        if transmit:
            out["ImagingFrequency"] = transmit
    frequency = out.get("ImagingFrequency")
    if isinstance(frequency, int | float) and not 0 < frequency < 9_000_000:
        del out["ImagingFrequency"]  # some vendors store Hz, not MHz: dcm2niix drops it
    gradient_train = opt_int(nested(ds, "GradientEchoTrainLength")) or 0  # enhanced MR
    acq.echo_train_length = (gradient_train if gradient_train >= 2 else
                             opt_int(_lookup(ds, "EchoTrainLength")) or 0)
    if acq.echo_train_length > 1:
        out["EchoTrainLength"] = acq.echo_train_length
    steps = opt_int(_lookup(ds, "NumberOfPhaseEncodingSteps")
                    or _lookup(ds, "MRAcquisitionPhaseEncodingStepsInPlane"))
    if steps:
        out["PhaseEncodingSteps"] = steps
    matrix = [opt_int(v) or 0 for v in as_list(_lookup(ds, "AcquisitionMatrix"))]
    if len(matrix) == 4:
        acq.phase_lines = matrix[2] or matrix[3]
    acq.phase_axis = str(_lookup(ds, "InPlanePhaseEncodingDirection") or "").strip().upper()[:3]
    if acq.phase_axis not in ("ROW", "COL"):
        acq.phase_axis = ""
    acq.pixel_bandwidth = _value(ds, "PixelBandwidth", "num")
    acq.accel_pe = opt_float(_lookup(ds, "ParallelReductionFactorInPlane")) or 0.0
    _vendor_rules(acq, ds, vendor)
    vendor_keys(acq, ds, vendor)
    acq.has_orientation = nested(ds, "ImageOrientationPatient") is not None
    if not mr:
        acq.phase_axis = ""
    return acq


def _vendor_rules(acq: Acquisition, ds: Any, vendor: str) -> None:
    if vendor == "siemens":
        _siemens(acq, ds)
    elif vendor == "philips":
        name = private_value(ds, 0x2001, "Philips Imaging DD 001", 0x20)  # Scanning Technique
        if "SequenceName" not in acq.fields and name:
            acq.fields["SequenceName"] = str(name).strip()
    elif vendor == "ge":
        _ge(acq, ds)
    elif vendor == "uih":
        polarity = opt_int(private_value(ds, 0x0065, "Image Private Header", 0x58))
        if polarity in (0, 1):
            acq.phase_positive = 1 - polarity  # 1 means flipped
        accel = _accel_text(private_value(ds, 0x0065, "Image Private Header", 0x0D), ":")
        acq.accel_pe = accel or acq.accel_pe
        acq.per_slice_times = "acquisition_time"
        _uih_tiles(acq, ds)


def _uih_tiles(acq: Acquisition, ds: Any) -> None:
    """UIH VFRAME: one item per tile in (0065,xx51), each with its Acquisition Time and
    Duration and Image Position. The series time is the earliest tile's; the slice times
    are kept with their positions (the writer puts them in the array's order); the
    readout is the Acquisition Duration (dcm2niix's UIH rule)."""
    items = private_value(ds, 0x0065, "Image Private Header", 0x51)
    if not items:
        return
    tiles: list[tuple[tuple[float, ...], float]] = []
    numbers = []
    for item in items:
        text = str(item.get("AcquisitionTime", "") or "")
        seconds, position = tm_seconds(text), floats(item.get("ImagePositionPatient", None), 3)
        if seconds is None or position is None:
            return
        tiles.append((position, seconds))
        numbers.append((seconds, opt_float(text.replace(":", ""))))
    first, number = min(numbers)
    acq.acquisition_time_number = number
    if item.get("AcquisitionDate", None) or ds.get("AcquisitionDate", None):
        acq.fields["AcquisitionTime"] = _clock(number, first)
    acq.tile_times_ms = [(pos, (t - first) * 1000.0) for pos, t in tiles]
    duration = opt_float(items[0].get("AcquisitionDuration", None))
    if duration and duration > 0:
        acq.readout_s = duration / 1000.0


def _siemens(acq: Acquisition, ds: Any) -> None:
    csa = _csa(ds)
    polarity = csa.get("PhaseEncodingDirectionPositive") or []
    if polarity:
        acq.phase_positive = int(round(float(polarity[0])))
    else:  # XA: no CSA, a private element instead
        value = opt_int(private_value(ds, 0x0021, _SDI, 0x1C))
        if value in (0, 1):
            acq.phase_positive = value
    bandwidth = csa.get("BandwidthPerPixelPhaseEncode") or []
    if bandwidth:
        acq.bandwidth_per_pixel_pe = float(bandwidth[0])
    else:
        acq.bandwidth_per_pixel_pe = opt_float(
            private_value(ds, 0x0019, "SIEMENS MR HEADER", 0x28)) or 0.0
    dwell = opt_float(private_value(ds, 0x0019, "SIEMENS MR HEADER", 0x18))  # ns
    if dwell and dwell > 0:  # dcm2niix reads this element, not the CSA RealDwellTime
        acq.dwell_time_s = round(dwell * 1e-9, 12)
    times = _csa_times(csa)
    if times is not None and not acq.is_3d:
        acq.slice_times_ms = times
        first = times[0]
        acq.multiband = max(1, sum(1 for t in times if t == first))
    accel = _accel_text(private_value(ds, 0x0051, "SIEMENS MR HEADER", 0x11), "p")
    accel = accel or _accel_text(private_value(ds, 0x0021, _SDS, 0x09), "p")
    acq.accel_pe = accel or acq.accel_pe
    if not csa and ds.get("PerFrameFunctionalGroupsSequence", None):
        _siemens_enhanced(acq, ds)


_SDS, _SDI = "SIEMENS MR SDS 01", "SIEMENS MR SDI 02"


def _private_item(item: Any, creator: str) -> Any:
    """The first item of the private sequence (0021,xxFE) of ``creator`` in a functional
    group item (where Siemens XA enhanced objects keep their series / image private
    elements), or None."""
    seq = private_value(item, 0x0021, creator, 0xFE)
    return seq[0] if seq else None


def _siemens_enhanced(acq: Acquisition, ds: Any) -> None:
    """Siemens XA enhanced objects (no CSA header): sequence attributes in the shared
    private series item, polarity and per-frame times in each frame's private image item
    (as dcm2niix reads them)."""
    shared = ds.get("SharedFunctionalGroupsSequence", None)
    series = _private_item(shared[0], _SDS) if shared else None
    if series is not None:
        for key, offset in (("ScanningSequence", 0x5A), ("SequenceVariant", 0x5B),
                            ("ScanOptions", 0x5C)):
            value = private_value(series, 0x0021, _SDS, offset)
            if key not in acq.fields and value not in (None, ""):
                acq.fields[key] = "\\".join(str(v).strip() for v in as_list(value))
    image = _frame_private(ds, 0)
    if image is not None and acq.phase_positive is None:
        value = opt_int(private_value(image, 0x0021, _SDI, 0x1C))
        if value in (0, 1):
            acq.phase_positive = value
    if image is not None and not acq.phase_lines:
        m = re.match(r"\s*(\d+)p", str(private_value(image, 0x0021, _SDI, 0x58) or ""))
        acq.phase_lines = int(m.group(1)) if m else 0
    if image is not None:
        bandwidth = opt_float(private_value(image, 0x0021, _SDI, 0x53))
        acq.bandwidth_per_pixel_pe = acq.bandwidth_per_pixel_pe or bandwidth or 0.0
        dwell = opt_float(private_value(image, 0x0021, _SDI, 0x42))  # ns
        if dwell and dwell > 0 and not acq.dwell_time_s:
            acq.dwell_time_s = round(dwell * 1e-9, 12)
        text_values = [part.strip() for v in as_list(private_value(image, 0x0021, _SDI, 0x75))
                       for part in str(v).split("_") if part.strip()]  # Image Type Text
        if text_values:
            acq.fields["ImageTypeText"] = text_values
        text_type = {v.upper() for v in text_values}
        if "NonlinearGradientCorrection" not in acq.fields:
            if text_type & {"DIS2D", "DIS3D"}:
                acq.fields["NonlinearGradientCorrection"] = True
            elif "ND" in text_type:
                acq.fields["NonlinearGradientCorrection"] = False
    acq.per_slice_times = "siemens_frames"


def _frame_private(ds: Any, frame: int) -> Any:
    """The Siemens private image item of one frame of an enhanced object, or None."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", None)
    if not per_frame or not 0 <= frame < len(per_frame):
        return None
    return _private_item(per_frame[frame], _SDI)


def frame_time_after_start(ds: Any, frame: int) -> float | None:
    """Siemens XA enhanced: the frame's Time After Start (s), or None."""
    image = _frame_private(ds, frame)
    return opt_float(private_value(image, 0x0021, _SDI, 0x04)) if image is not None else None


def _ge(acq: Acquisition, ds: Any) -> None:
    name = private_value(ds, 0x0019, "GEMS_ACQU_01", 0x9C)  # Pulse Sequence Name
    if "SequenceName" not in acq.fields and name:
        acq.fields["SequenceName"] = str(name).strip()
    block = ge.protocol_block(ds)
    pseq = (block or {}).get("PSEQ", "")
    if pseq:  # dcm2niix appends the protocol's sequence to the step description
        acq.fields["ProcedureStepDescription"] = acq.fields.get(
            "ProcedureStepDescription", "") + pseq
    order = str(ds.get("RectilinearPhaseEncodeReordering", "") or "").upper()
    if order.startswith("L"):
        acq.phase_positive = 0
    elif order.startswith("R"):
        acq.phase_positive = 1
    else:
        acq.phase_positive = ge.epi_phase_polarity(ds)
    acq.echo_spacing_ge_us = opt_float(private_value(ds, 0x0043, ge.PARM_CREATOR, 0x2C)) or 0.0
    factors = [opt_float(v) for v in as_list(private_value(ds, 0x0043, ge.PARM_CREATOR, 0x83))]
    if factors and factors[0]:
        acq.accel_pe = 1.0 / factors[0]
    group_delay = opt_float(private_value(ds, 0x0043, ge.PARM_CREATOR, 0x7C))
    if group_delay is not None and not acq.is_3d:
        acq.slice_times_ms = _ge_epirt_times(block, acq, group_delay * 1000.0)
        acq.slice_times_order = "instance"


def _ge_epirt_times(block: dict[str, str] | None, acq: Acquisition,
                    group_delay_ms: float) -> list[float] | None:
    """Slice times of a GE epiRT (fMRI) series from its Protocol Data Block, by
    dcm2niix's rule: the TR less the group delay shared evenly by the excitations,
    sequential or interleaved (odd slices first) as SLICEORDER says. Multiband series
    are left out (their order depends on the software release)."""
    tr = acq.repetition_time_ms
    if block is None or not tr:
        return None
    n = opt_int(block.get("NOSLC"))
    mb = max(opt_int(block.get("MBACCEL")) or 1, 1)
    if not n or n < 2 or mb > 1:
        return None
    interleaved = (opt_int(block.get("SLICEORDER")) or 0) != 0
    per_slice = (tr - group_delay_ms) / n
    if not interleaved:
        return [i * per_slice for i in range(n)]
    n_odd = (n - 1) // 2
    return [(i // 2) * per_slice if i % 2 == 0 else (n_odd + (i + 1) // 2) * per_slice
            for i in range(n)]


__all__ = ["MANUFACTURER_NAMES", "Acquisition", "acquisition_of", "csa_slice_times",
           "diffusion_of", "frame_time_after_start"]
