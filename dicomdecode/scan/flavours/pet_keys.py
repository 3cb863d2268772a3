"""The PET sidecar keys dcm2niix writes (nii_SaveBIDSX, BIDS PET), from one header.

Radiopharmaceutical facts come from the Radiopharmaceutical Information Sequence (dcm2niix
reads them wherever they are nested), the rest from the PET Series / Image modules. Units
are BIDS's: radioactivity in MBq (DICOM stores Bq), durations in seconds (DICOM: ms).

Keys that need every volume of a 4D series (per-volume decay factors, frame start times)
are written for a single volume only; a 4D series goes without them (never invented).
"""

from __future__ import annotations

import math
from typing import Any

from dicomdecode.scan.flavours.vendor_keys import nested
from dicomdecode.scan.values import opt_float

#: dcm2niix's names for whole reconstruction method texts (checked first, in order)
_METHOD_NAMES = (
    ("PSF+TOF3i21s", "Point-Spread Function + Time Of Flight"),
    ("PSF TOF 3D OSEM", "Point-Spread Function 3D Time Of Flight"),
    ("OP-OSEM", "Ordinary Poisson - Ordered Subset Expectation Maximization"),
    ("OSEM3D-OP-PSF", "Ordinary Poisson 3D Ordered Subset Expectation Maximization + "
                      "Point-Spread Function"),
    ("LOR-RAMLA", "Line Of Response - Row Action Maximum Likelihood"),
    ("3D-RAMLA", "3D Row Action Maximum Likelihood"),
    ("3DRP", "3DRP"),
    ("3D Kinahan-Rogers", "3D Kinahan-Rogers"),
)


def _method_name(method: str) -> str:
    """dcm2niix's ReconMethodName: a known whole text, else the words of the parts found."""
    for needle, name in _METHOD_NAMES:
        if needle in method:
            return name
    words = []
    if "OSEM" in method:
        words.append("Ordered Subset Expectation Maximization")
    elif "OS" in method:
        words.append("Ordered Subset")
    for needle, word in (("LOR", "Line Of Response"), ("RAMLA", "Row Action Maximum Likelihood"),
                         ("OP", "Ordinary Poisson"),
                         ("PSF", "Point-Spread Function modelling"),
                         ("TOF", "Time Of Flight"), ("TF", "Time Of Flight")):
        if needle in method:
            words.append(word)
    if "VPHD" in method:
        words.append("VUE Point HD")
    if "VPFX" in method:
        words.append("VUE Point HD using Time Of Flight")
    for needle, word in (("Q.Clear", "VUE Point HD with regularization (smoothing)"),
                         ("BLOB", "3D spherically symmetric basis function"),
                         ("FilteredBackProjection", "Filtered Back Projection"),
                         ("3DRP", "3D Kinahan-Rogers")):
        if needle in method:
            words.append(word)
    return " ".join(words)


def _iterations_subsets(method: str) -> tuple[int, int]:
    """(iterations, subsets) from "...i3s21" or "...4i21s" (dcm2niix's reading: the
    highest number found with the letter on its side)."""
    letter_last = method.endswith("s")
    iterations = subsets = 0
    for i in range(1, 33):
        if (f"{i}i" if letter_last else f"i{i}") in method:
            iterations = i
    for i in range(1, 32):
        if (f"{i}s" if letter_last else f"s{i}") in method:
            subsets = i
    return iterations, subsets


def _g(value: float, digits: int = 6) -> int | float:
    rounded = float(f"{value:.{digits}g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def _positive(ds: Any, keyword: str) -> float | None:
    value = opt_float(nested(ds, keyword))
    return value if value is not None and math.isfinite(value) and value > 0 else None


def pet_keys(ds: Any, out: dict[str, Any], single_volume: bool) -> None:
    """Add dcm2niix's PET keys of ``ds`` to ``out`` (a PT header)."""
    fraction = _positive(ds, "RadionuclidePositronFraction")
    if fraction is not None:
        out["RadionuclidePositronFraction"] = _g(fraction)
    dose = _positive(ds, "RadionuclideTotalDose")
    if dose is not None:  # Bq in DICOM, MBq in BIDS
        out["InjectedRadioactivity"] = _g(dose / 1e6, 8)
        out["InjectedRadioactivityUnits"] = "MBq"
    half_life = _positive(ds, "RadionuclideHalfLife")
    if half_life is not None:
        out["RadionuclideHalfLife"] = _g(half_life)
    calibration = _positive(ds, "DoseCalibrationFactor")
    if calibration is not None:
        out["DoseCalibrationFactor"] = _g(calibration, 8)
    for key in ("DecayCorrection", "AttenuationCorrectionMethod", "ReconstructionMethod"):
        text = str(nested(ds, key) or "").strip()
        if text:
            out[key] = text
    method = str(out.get("ReconstructionMethod", ""))
    name = _method_name(method)
    if name:
        out["ReconMethodName"] = name
    iterations, subsets = _iterations_subsets(method)
    if iterations and subsets:
        out["ReconMethodParameterLabels"] = ["subsets", "iterations"]
        out["ReconMethodParameterValues"] = [subsets, iterations]
    decay = _positive(ds, "DecayFactor")
    duration = opt_float(nested(ds, "ActualFrameDuration"))
    if single_volume and decay is not None:
        out["DecayFactor"] = [_g(decay)]
        out["FrameTimesStart"] = [0]
    if single_volume and duration is not None and duration >= 0:
        repetition = out.get("RepetitionTime")
        seconds = duration / 1000.0 if duration > 0 or not repetition else float(repetition)
        out["FrameDuration"] = [_g(seconds)]
    if duration is not None and duration >= 0:
        out.pop("RepetitionTime", None)  # dcm2niix: frames may have their own durations
    # TimeZero (the 2024 source's, from Acquisition Time) is no longer written by the
    # 2026 oracle, which gives ScanStart / ImageDecayCorrectionTime instead: neither here


__all__ = ["pet_keys"]
