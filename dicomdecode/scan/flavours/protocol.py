"""The Siemens protocol block (ASCCONV, "MrPhoenixProtocol") read as dcm2niix reads it.

Siemens keeps the whole protocol as text in the CSA series header (0029,xx20
"SIEMENS CSA HEADER") of classic files and in (0021,xx19) "SIEMENS MR SDS 01" of XA
files (top level, or in the shared functional groups' private item of enhanced objects).
The lines between ``### ASCCONV BEGIN`` and ``### ASCCONV END`` are ``name = value``.

dcm2niix looks each key up as a *substring* of that text (the first line that contains
it) and reads integers as every digit of the rest of the line, numbers as the digits,
points and minus signs of the rest of the line, and text as the first quoted string.
:class:`Protocol` does the same, so keys that are prefixes of others
("sSliceArray.ucImageNumb" / "...ImageNumbSag") give the values dcm2niix gives.
"""

from __future__ import annotations

import math
import re
from typing import Any

from dicomdecode.read.private import private_value

_BEGIN, _END = b"### ASCCONV BEGIN", b"### ASCCONV END"
_SDS = "SIEMENS MR SDS 01"
_LEADING_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)")


class Protocol:
    """The ASCCONV text of one header, with dcm2niix's four lookups."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _rest(self, key: str) -> str | None:
        at = self.text.find(key)
        if at < 0:
            return None
        end = self.text.find("\n", at)
        return self.text[at + len(key): end if end >= 0 else None]

    def integer(self, key: str, missing: int = 0) -> int:
        """Every digit of the rest of the line, as one integer (``missing`` when the key
        is absent; 0 when the line has no digit)."""
        rest = self._rest(key)
        if rest is None:
            return missing
        digits = "".join(c for c in rest if c in "0123456789")
        # a hostile line of thousands of digits would exceed Python's int-from-text limit
        # (ValueError); no protocol integer has more than 18
        return int(digits) if 0 < len(digits) <= 18 else 0

    def number(self, key: str) -> float | None:
        """The digits, points and minus signs of the rest of the line read as a number
        (its leading numeric part, as C's atof), or None when the key is absent."""
        rest = self._rest(key)
        if rest is None:
            return None
        kept = "".join(c for c in rest if c in "0123456789.-")
        m = _LEADING_NUMBER.match(kept)
        value = float(m.group(0)) if m else 0.0
        return value if math.isfinite(value) else 0.0

    def string(self, key: str) -> str:
        """The first quoted text of the rest of the line ("" when none)."""
        rest = self._rest(key)
        if rest is None:
            return ""
        m = re.search(r'"+([^"]+)"', rest)
        return m.group(1) if m else ""


def _ascconv(raw: Any) -> Protocol | None:
    if isinstance(raw, str):
        raw = raw.encode("latin-1", "replace")
    if not isinstance(raw, bytes | bytearray):
        return None
    start = raw.find(_BEGIN)
    if start < 0:
        return None
    end = raw.find(_END, start)
    block = raw[start: end if end >= 0 else None]
    return Protocol(block.decode("latin-1"))


def siemens_protocol(ds: Any) -> Protocol | None:
    """The ASCCONV protocol of a Siemens header, or None (not Siemens, or no protocol)."""
    raw = private_value(ds, 0x0029, "SIEMENS CSA HEADER", 0x20)
    found = _ascconv(raw)
    if found is not None:
        return found
    found = _ascconv(private_value(ds, 0x0021, _SDS, 0x19))
    if found is not None:
        return found
    shared = ds.get("SharedFunctionalGroupsSequence", None)
    if shared:
        seq = private_value(shared[0], 0x0021, _SDS, 0xFE)
        if seq:
            return _ascconv(private_value(seq[0], 0x0021, _SDS, 0x19))
    return None


#: sKSpace.ucPhasePartialFourier -> the fraction dcm2niix writes
_PARTIAL_FOURIER = {1: 0.5, 2: 0.625, 4: 0.75, 8: 0.875}


def protocol_keys(p: Protocol, modality: str) -> dict[str, Any]:
    """The sidecar keys dcm2niix takes from the protocol (its names and units), plus the
    facts other keys need (under leading underscores: ``_accel_pe``, ``_accel_3d``,
    ``_phase_oversampling``, ``_coil_elements``)."""
    mr = modality == "MR"
    out: dict[str, Any] = {}
    pf = p.integer("sKSpace.ucPhasePartialFourier")
    if pf in _PARTIAL_FOURIER and mr:  # 16 is "off": dcm2niix v1.0.2026 writes nothing
        out["PartialFourier"] = _PARTIAL_FOURIER[pf]
    if p.integer("sKSpace.uc2DInterpolation") > 0:
        out["Interpolation2D"] = 1
    base = p.integer("sKSpace.lBaseResolution")
    if base > 0:
        out["BaseResolution"] = base
    shims = [p.number("sGRADSPEC.asGPAData[0].lOffset" + axis) or 0.0 for axis in "XYZ"]
    for i, axis in enumerate("XYZ"):
        if shims[i] == 0.0:
            shims[i] = p.number("sGRADSPEC.lOffset" + axis) or 0.0
    shims += [p.number(f"sGRADSPEC.alShimCurrent[{i}]") or 0.0 for i in range(5)]
    if shims[0] != 0.0:
        out["ShimSetting"] = [_num(v) for v in shims]
    delay = p.number("lDelayTimeInTR") or 0.0
    if delay > 0:
        out["DelayTime"] = delay / 1e6  # us -> s
    amp = p.number("sTXSPEC.asNucleusInfo[0].flReferenceAmplitude") or 0.0
    if mr and amp > 0:
        out["TxRefAmp"] = _num(amp)
    resolution = p.number("sKSpace.dPhaseResolution") or 0.0
    if mr and resolution > 0:
        out["PhaseResolution"] = _num(resolution)
    oversampling = p.number("sKSpace.dPhaseOversamplingForDialog") or 0.0
    if oversampling > 0:
        out["PhaseOversampling"] = _num(oversampling)
    spacing = p.integer("sFastImaging.lEchoSpacing")
    if spacing > 0:
        out["VendorReportedEchoSpacing"] = spacing / 1e6
    coil = p.string("sCoilElementID.tCoilID")
    if coil:
        out["ReceiveCoilName"] = coil
    elements = p.string("sCoilSelectMeas.sCoilStringForConversion")
    if mr and elements:
        out["ReceiveCoilActiveElements"] = elements
    sequence = p.string("tSequenceFileName")
    if sequence:
        out["PulseSequenceDetails"] = sequence
    ref_lines = p.integer("sPat.lRefLinesPE")
    if ref_lines > 0:
        out["RefLinesPE"] = ref_lines
    combine = p.integer("ucCoilCombineMode", -1)
    if combine in (1, 2):
        out["CoilCombinationMethod"] = "Sum of Squares" if combine == 1 else "Adaptive Combine"
    if p.integer("sPrepPulses.ucMTC", -1) == 1:
        out["_mt"] = True
    consistency = (p.string("sProtConsistencyInfo.tMeasuredBaselineString")
                   or p.string("sProtConsistencyInfo.tBaselineString"))
    if not consistency:
        version = p.integer("sProtConsistencyInfo.ulConvFromVersion")
        consistency = str(version) if version > 0 else ""
    if consistency:
        out["ConsistencyInfo"] = consistency
    accel_pe = p.integer("sPat.lAccelFactPE")
    if accel_pe > 0:
        mode = p.integer("sPat.ucPATMode", -1)
        if mode in (1, 2):
            out["MatrixCoilMode"] = "SENSE" if mode == 1 else "GRAPPA"
        out["_accel_pe"] = float(accel_pe)
    accel_3d = p.integer("sPat.lAccelFact3D")
    if accel_3d > 0:
        out["_accel_3d"] = float(accel_3d)
    out["_phase_oversampling"] = oversampling
    out["_coil_elements"] = elements
    out["_phase_lines"] = p.integer("sKSpace.lPhaseEncodingLines")
    return out


def _num(value: float) -> int | float:
    """A number as dcm2niix's %g of a C float writes it: integers without a point,
    others with six significant digits."""
    if float(value).is_integer():
        return int(value)
    return float(f"{float(value):.6g}")


__all__ = ["Protocol", "protocol_keys", "siemens_protocol"]
