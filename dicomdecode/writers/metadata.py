"""Metadata written next to volumes: the one JSON-safe converter, the BIDS sidecar, the
per-slice provenance and the NIfTI header fields dcm2niix fills.

Units: one per key everywhere. Times are in seconds (BIDS, dcm2niix) in the sidecar, in
``Volume.meta`` and so in the npz / Zarr metadata; lengths in mm; angles in degrees.

The sidecar carries dcm2niix's keys with its names and values (see README "Differences
from dcm2niix" for the keys we deliberately do not write). The acquisition facts come
from the series' first header (:mod:`dicomdecode.scan.flavours.acquisition`, vendor rules
included); the keys that depend on the array axes (PhaseEncodingDirection,
ReconMatrixPE, EffectiveEchoSpacing, TotalReadoutTime, SliceTiming) are worked out here,
for the axes of the file we write: x = column, y = row, z = slice of the Volume. So
PhaseEncodingDirection and SliceTiming name the same physical direction and the same
slice as dcm2niix's, in our file's voxel order (dcm2niix stores rows flipped: its "j-"
is our "j").

Per-slice provenance (path, SOP Instance UID, position, rescale, transfer syntax,
handler) is not in the sidecar: :func:`slice_provenance` gives it for its own file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dicomdecode.scan.flavours.acquisition import Acquisition
    from dicomdecode.volume import Volume

#: Our name and version in ConversionSoftware / ConversionSoftwareVersion.
SOFTWARE = "dicomdecode"

# NIfTI slice_code values (nifti1.h)
_SEQ_INC, _SEQ_DEC, _ALT_INC, _ALT_DEC, _ALT_INC2, _ALT_DEC2 = 1, 2, 3, 4, 5, 6


def jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays, pydicom values, tuples and paths into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, bytes):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    # pydicom MultiValue, DSfloat, IS, PersonName...: numbers stay numbers where possible
    if hasattr(value, "__iter__"):
        return [jsonable(v) for v in value]
    for cast in (int, float):
        try:
            if cast is int and not float(value).is_integer():
                continue
            return cast(value)
        except (TypeError, ValueError):
            pass
    return str(value)


def volume_metadata(volume: Volume, *, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """JSON-ready description of a Volume: geometry, series metadata and warnings (the
    per-slice provenance is :func:`slice_provenance`)."""
    meta: dict[str, Any] = {
        "shape": list(volume.array.shape),
        "dtype": str(volume.array.dtype),
        "affine_lps": jsonable(np.asarray(volume.affine, dtype=float)),
        "affine_convention": "maps (slice, row, col, 1) to patient LPS mm",
        "spacing": list(volume.spacing),
        "meta": jsonable(volume.meta),
        "warnings": list(volume.warnings),
    }
    if extra:
        meta.update(jsonable(extra))
    return meta


def slice_provenance(volume: Volume) -> list[dict[str, Any]]:
    """Where every slice of ``volume`` came from, in array order."""
    return [
        {"path": s.path, "sop_instance_uid": s.sop_instance_uid, "frame": s.frame,
         "position": jsonable(s.position), "slope": jsonable(s.slope),
         "intercept": jsonable(s.intercept), "transfer_syntax": s.transfer_syntax,
         "handler": s.handler}
        for s in volume.slices
    ]


def provenance(volume: Volume) -> dict[str, Any]:
    """The content of ``<name>_slices.json``: the volume's geometry, metadata, warnings
    and where each slice came from (too long for a sidecar: one entry per slice)."""
    return {**volume_metadata(volume), "slices": slice_provenance(volume)}


# --------------------------------------------------------------------------- BIDS


def _header(path: str) -> Any | None:
    """The header (no pixels) of one source file, or None when it cannot be read: the
    sidecar then goes without what that file would have told."""
    from dicomdecode.errors import DicomDecodeError
    from dicomdecode.read.dataset import read_dataset

    try:
        return read_dataset(path, stop_before_pixels=True)
    except (DicomDecodeError, OSError):
        return None


def _fast_header(path: str) -> Any:
    """The fast header view of one source file (:func:`dicomdecode.scan.walk.fast_header`:
    plain files without the vendor structures it leaves to pydicom); NeedsFullParse where
    there is none, so the caller reads every header with pydicom instead."""
    from dicomdecode.read.header import NeedsFullParse
    from dicomdecode.scan.walk import fast_header

    header = fast_header(path)
    if header is None:
        raise NeedsFullParse(f"no fast header view of {path}")
    return header


Reader = Callable[[str], Any]


def acquisition(volume: Volume) -> Acquisition | None:
    """The acquisition facts of ``volume`` from its first slice's header (None when the
    volume has no source file, or the header cannot be read).

    The headers are read with the fast view first (importing pydicom costs a convert of a
    plain series 0.3-0.5 s, as much as its decode): the facts are the same either way
    (tests/test_nifti_header.py compares both roads on every corpus file); where the view
    cannot answer (a sequence, an unusual character set, a value it does not convert) the
    whole computation is redone on pydicom's Datasets."""
    if not volume.slices:
        return None
    try:
        return _acquisition(volume, _fast_header)
    except Exception:  # NeedsFullParse, or a value the view reads otherwise: pydicom decides
        return _acquisition(volume, _header)


def _acquisition(volume: Volume, read: Reader) -> Acquisition | None:
    from dicomdecode.scan.flavours.acquisition import acquisition_of
    from dicomdecode.scan.flavours.base import vendor_of

    ds = read(volume.slices[0].path)
    if ds is None:
        return None
    acq = acquisition_of(ds, vendor_of(ds))
    if acq.fields.get("Modality") == "PT":
        from dicomdecode.scan.flavours.pet_keys import pet_keys

        n = _n_slices(volume)
        pet_keys(ds, acq.fields, single_volume=n > 0 and len(volume.slices) == n)
    if acq.tile_times_ms is not None:
        acq.slice_times_ms = _times_by_position(volume, acq.tile_times_ms)
    elif acq.per_slice_times == "siemens_frames" and not acq.is_3d:
        acq.slice_times_ms = _siemens_frame_times(volume, read)
        if acq.slice_times_ms is not None:
            acq.multiband = max(1, sum(1 for t in acq.slice_times_ms if t == 0))
    elif acq.per_slice_times == "acquisition_time" and acq.slice_times_ms is None:
        acq.slice_times_ms = _times_from_acquisition_time(volume, read)
    if acq.vendor == "siemens" and acq.slice_times_ms is not None:
        acq.slice_times_ms = _second_volume_times(volume, acq.slice_times_ms, read)
    if acq.slice_times_order == "instance" and acq.slice_times_ms is not None:
        acq.slice_times_ms = _instance_order_to_array(volume, ds, acq.slice_times_ms, read)
    return acq


def _second_volume_times(volume: Volume, times: list[float], read: Reader = _header
                         ) -> list[float]:
    """dcm2niix's check (its issue 870): when the second volume's CSA slice times span
    another range than the first's, the first volume's are taken as corrupt and the
    second's are used."""
    from dicomdecode.scan.flavours.acquisition import csa_slice_times

    n = _n_slices(volume)
    if len(volume.slices) < 2 * n or volume.slices[n].path == volume.slices[0].path:
        return times
    header = read(volume.slices[n].path)
    second = csa_slice_times(header) if header is not None else None
    if second is None or len(second) != len(times):
        return times
    if abs((max(times) - min(times)) - (max(second) - min(second))) > 1e-3:
        return second
    return times


def _instance_order_to_array(volume: Volume, first: Any, times: list[float],
                             read: Reader = _header) -> list[float]:
    """Times listed from the first prescribed slice (lowest Instance Number) put in the
    array's slice order: reversed when the array's first slice is the last numbered."""
    from dicomdecode.scan.values import opt_int

    n = _n_slices(volume)
    if n < 2 or len(volume.slices) < n or len(times) != n:
        return times
    last = read(volume.slices[n - 1].path)
    if last is None:
        return times
    a, b = opt_int(first.get("InstanceNumber", None)), opt_int(last.get("InstanceNumber", None))
    return times[::-1] if a is not None and b is not None and a > b else times


def _siemens_frame_times(volume: Volume, read: Reader = _header) -> list[float] | None:
    """Siemens XA enhanced: slice times (ms) from each frame's Time After Start, of the
    second volume when there is one (dcm2niix's rule: the first may be off), from the
    earliest."""
    from dicomdecode.scan.flavours.acquisition import frame_time_after_start

    n = _n_slices(volume)
    start = n if len(volume.slices) >= 2 * n else 0
    if n < 2 or len(volume.slices) < start + n:
        return None
    headers: dict[str, Any] = {}
    times = []
    for info in volume.slices[start:start + n]:
        if info.path not in headers:
            headers[info.path] = read(info.path)
        header = headers[info.path]
        t = frame_time_after_start(header, info.frame) if header is not None else None
        if t is None:
            return None
        times.append(t * 1000.0)
    low = min(times)
    return [t - low for t in times]


def _times_by_position(volume: Volume,
                       tiles: list[tuple[tuple[float, ...], float]]) -> list[float] | None:
    """Per-tile times put in the array's slice order: each slice of the first volume takes
    the time of the tile at its position (None when a slice has no tile within 0.1 mm)."""
    n = _n_slices(volume)
    if len(volume.slices) < n or len(tiles) < n:
        return None
    positions = np.array([p for p, _ in tiles], float)
    out = []
    for info in volume.slices[:n]:
        distance = np.linalg.norm(positions - np.asarray(info.position, float), axis=1)
        best = int(np.argmin(distance))
        if distance[best] > 0.1:
            return None
        out.append(tiles[best][1])
    return out


def _n_slices(volume: Volume) -> int:
    """Slices per volume (the z size of the NIfTI)."""
    arr = volume.array
    samples = int((volume.meta or {}).get("SamplesPerPixel", 1) or 1)
    spatial = arr.ndim - (1 if samples > 1 and arr.shape[-1] == samples else 0)
    return int(arr.shape[1] if spatial == 4 else arr.shape[0])


def _times_from_acquisition_time(volume: Volume, read: Reader = _header
                                 ) -> list[float] | None:
    """Slice times (ms, from the earliest) of the first volume from each slice's own
    Acquisition Time (UIH), in array order; None when they do not vary."""
    from dicomdecode.scan.values import tm_seconds

    n = _n_slices(volume)
    if n < 2 or len(volume.slices) < n:
        return None
    times: list[float] = []
    for info in volume.slices[:n]:
        ds = read(info.path)
        if ds is None:
            return None
        t = tm_seconds(ds.get("AcquisitionTime", None))
        if t is None:
            return None
        times.append(t)
    if max(times) - min(times) > 43200:  # crossed midnight
        times = [t - 86400 if t > 43200 else t for t in times]
    low = min(times)
    out = [(t - low) * 1000.0 for t in times]
    return out if max(out) > 0 else None


def _phase_direction(acq: Acquisition) -> str | None:
    """BIDS PhaseEncodingDirection for our axes (x = column, y = row): the phase axis
    from In-plane Phase Encoding Direction, the sign from the vendor's polarity. Rows
    run down the image (y grows with the row index), the positive direction of a COL
    phase encoding; dcm2niix flips rows and so writes the opposite sign on j."""
    if acq.phase_positive is None or not acq.phase_axis or acq.is_3d and \
            acq.echo_train_length <= 1:
        return None
    axis = "j" if acq.phase_axis == "COL" else "i"
    return axis if acq.phase_positive == 1 else axis + "-"


def _recon_matrix_pe(acq: Acquisition, rows: int, columns: int) -> int:
    if rows == columns or acq.phase_axis == "COL":
        return rows
    if acq.phase_axis == "ROW":
        return columns
    return acq.phase_lines


def _effective_echo_spacing(acq: Acquisition, recon_pe: int) -> float:
    """dcm2niix's rule: 1 / (BandwidthPerPixelPhaseEncode x ReconMatrixPE) (Siemens);
    GE from its echo spacing, the ASSET factor and the acquired lines rounded up to 2
    (4 with partial Fourier)."""
    ees = 0.0
    if recon_pe > 0 and acq.bandwidth_per_pixel_pe > 0:
        ees = 1.0 / (acq.bandwidth_per_pixel_pe * recon_pe)
    if acq.echo_spacing_ge_us > 0 and recon_pe > 1 and acq.accel_pe > 0 and acq.phase_lines > 1:
        options = str(acq.fields.get("ScanOptions", "")).upper().split("\\")
        step = 4.0 if {"PFF", "PFP"} & set(options) else 2.0
        lines = math.ceil(acq.phase_lines / acq.accel_pe / step) * step
        readout = (lines - 1.0) * acq.echo_spacing_ge_us * 1e-6
        ees = readout / (acq.phase_lines - 1)
    return ees


def _g6(value: float) -> int | float:
    """A number as C's %g writes it (six significant digits)."""
    rounded = float(f"{value:.6g}")
    return int(rounded) if rounded.is_integer() else rounded


def _derived_echo_spacing(acq: Acquisition, recon_pe: int) -> float:
    """dcm2niix's DerivedVendorReportedEchoSpacing: 1 / (BandwidthPerPixelPhaseEncode x
    ReconMatrixPE / in-plane acceleration x (1 + phase oversampling)), in 32-bit floats:
    the echo spacing the console shows."""
    factor = 1.0
    if acq.accel_pe > 1.0:
        factor /= acq.accel_pe
    if acq.phase_oversampling > 0:
        factor *= 1.0 + acq.phase_oversampling
    derived = np.float32(acq.bandwidth_per_pixel_pe * factor * recon_pe)
    return float(np.float32(1.0) / derived) if derived != 0 else 0.0


def _partial_fourier_estimate(out: dict[str, Any], acq: Acquisition) -> None:
    """Siemens without a protocol block (dcm2niix infers it, XA10): echo train length
    over the phase-encoding lines shared by the in-plane acceleration, when below 1."""
    if not acq.estimate_partial_fourier or acq.is_3d or acq.echo_train_length <= 1:
        return
    lines = acq.phase_lines or int(out.get("PhaseEncodingSteps") or 0)
    if lines <= acq.echo_train_length:
        return
    per_shot = np.float32(lines)
    if acq.accel_pe > 1:
        per_shot = np.float32(per_shot / np.float32(acq.accel_pe))
    pf = float(np.float32(np.float32(acq.echo_train_length) / per_shot))
    if pf < 1.0:
        out["PartialFourier"] = _g6(pf)


#: dcm2niix's key order (nii_SaveBIDSX of v1.0.20260724, the oracle the tests run):
#: the sidecar lists its keys in this order; keys not listed keep their place after.
KEY_ORDER = tuple("""
Modality MagneticFieldStrength ImagingFrequency Manufacturer InternalPulseSequenceName
ManufacturersModelName InstitutionName InstitutionalDepartmentName InstitutionAddress
DeviceSerialNumber StationName BodyPart PatientPosition ProcedureStepDescription
SoftwareVersions MRAcquisitionType StudyDescription SeriesDescription ProtocolName
ScanningSequence SequenceVariant PulseSequenceType ScanOptions SequenceName ImageType
ImageTypeText NonlinearGradientCorrection RawImage DeidentificationMethod SeriesNumber AcquisitionTime AcquisitionNumber
ImageComments PhilipsRWVSlope PhilipsRWVIntercept PhilipsRescaleSlope
PhilipsRescaleIntercept PhilipsScaleSlope UsePhilipsFloatNotDisplayScaling
RadionuclidePositronFraction InjectedRadioactivity InjectedRadioactivityUnits
RadionuclideHalfLife DoseCalibrationFactor ConvolutionKernel DecayCorrection
AttenuationCorrectionMethod ReconstructionMethod ReconMethodName ReconMethodParameterLabels
ReconMethodParameterValues DecayFactor FrameTimesStart FrameDuration ExposureTime XRayTubeCurrent XRayExposure SliceThickness
SpacingBetweenSlices SAR TablePosition NumberOfAverages EchoNumber EchoTime
RepetitionTime MTState SpoilingState SpoilingType InversionTime FlipAngle
PhaseEncodingDirectionDisplayed PhaseEncodingPolarityGE PartialFourier Interpolation2D
BaseResolution ShimSetting PrescanReuseString DelayTime TxRefAmp PhaseResolution
PhaseOversampling VendorReportedEchoSpacing ReceiveCoilName ReceiveCoilActiveElements
CoilString PulseSequenceDetails RefLinesPE CoilCombinationMethod ConsistencyInfo
MatrixCoilMode MultibandAccelerationFactor PercentPhaseFOV PercentSampling
EchoTrainLength PartialFourierDirection PhaseEncodingSteps FrequencyEncodingSteps
PhaseEncodingStepsOutOfPlane AcquisitionMatrixPE ReconMatrixPE
BandwidthPerPixelPhaseEncode ParallelReductionFactorInPlane ParallelAcquisitionTechnique
ParallelReductionFactorOutOfPlane EffectiveEchoSpacing WaterFatShift
DerivedVendorReportedEchoSpacing EstimatedEffectiveEchoSpacing EstimatedTotalReadoutTime
AcquisitionDuration NumberOfKSpaceTrajectories TotalReadoutTime PixelBandwidth
PhaseEncodingAxis DwellTime PhaseEncodingDirection SliceTiming
ImageOrientationPatientDICOM ImageOrientationText InPlanePhaseEncodingDirectionDICOM
ConversionSoftware ConversionSoftwareVersion
""".split())
_RANK = {key: i for i, key in enumerate(KEY_ORDER)}


def _in_order(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` with dcm2niix's keys in its order (others, e.g. "dicomdecode", last); for
    PET, AcquisitionTime goes with the frame timing keys, as the 2026 oracle lists it."""
    rank: dict[str, float] = dict(_RANK)
    if out.get("Modality") == "PT":
        rank["AcquisitionTime"] = rank["FrameDuration"] + 0.5
    keys = sorted(out, key=lambda k: rank.get(k, len(KEY_ORDER)))
    return {k: out[k] for k in keys}


def bids_sidecar(volume: Volume, acq: Acquisition | None = None) -> dict[str, Any]:
    """The BIDS sidecar of ``volume``: dcm2niix's keys, names, order and units."""
    if acq is None:
        acq = acquisition(volume)
    out: dict[str, Any] = {}
    if acq is None:
        out.update(_fallback_fields(volume))
    else:
        out.update(acq.fields)
        _readout_keys(out, volume, acq)
    iop = _orientation(volume) if acq is None or acq.has_orientation else None
    if iop is not None:
        out["ImageOrientationPatientDICOM"] = iop
    if acq is not None and acq.phase_axis:
        out["InPlanePhaseEncodingDirectionDICOM"] = acq.phase_axis
    out["ConversionSoftware"] = SOFTWARE
    out["ConversionSoftwareVersion"] = _version()
    return jsonable(_in_order(out))  # type: ignore[no-any-return]


def _readout_keys(out: dict[str, Any], volume: Volume, acq: Acquisition) -> None:
    """Keys that need the array axes, in dcm2niix's order after the timing keys."""
    rows, columns = int(volume.array.shape[-2]), int(volume.array.shape[-1])
    samples = int((volume.meta or {}).get("SamplesPerPixel", 1) or 1)
    if samples > 1:
        rows, columns = int(volume.array.shape[-3]), int(volume.array.shape[-2])
    mr = out.get("Modality") == "MR"
    recon_pe = _recon_matrix_pe(acq, rows, columns) if mr else 0
    if mr and acq.phase_lines > 0:
        out["AcquisitionMatrixPE"] = acq.phase_lines
    if mr and recon_pe > 0:
        out["ReconMatrixPE"] = recon_pe
    if mr and acq.vendor == "ge" and acq.phase_positive is not None:
        out["PhaseEncodingPolarityGE"] = "Unflipped" if acq.phase_positive == 1 else "Flipped"
    if mr and acq.multiband > 1:
        out["MultibandAccelerationFactor"] = acq.multiband
    if acq.bandwidth_per_pixel_pe > 0:
        out["BandwidthPerPixelPhaseEncode"] = acq.bandwidth_per_pixel_pe
    if acq.accel_pe > 0:  # dcm2niix v1.0.2026: written whenever known, 1 included
        out["ParallelReductionFactorInPlane"] = round(acq.accel_pe, 6)
    if acq.accel_oop > 0:
        out["ParallelReductionFactorOutOfPlane"] = round(acq.accel_oop, 6)
    if mr:
        _partial_fourier_estimate(out, acq)
    ees = _effective_echo_spacing(acq, recon_pe)
    if ees > 0:
        out["EffectiveEchoSpacing"] = round(ees, 9)
        if recon_pe > 0:
            out["TotalReadoutTime"] = round(ees * (recon_pe - 1.0), 9)
    derived = _derived_echo_spacing(acq, recon_pe)
    if derived > 0:
        out["DerivedVendorReportedEchoSpacing"] = _g6(derived)
    imaging_frequency = float(out.get("ImagingFrequency") or 0.0)
    if (ees == 0 and imaging_frequency > 0 and acq.water_fat_shift != 0
            and acq.echo_train_length > 0 and recon_pe > 1):
        # dcm2niix (its issue 377), in 32-bit floats: the echo spacing from the Philips
        # water-fat shift (pixels) and the EPI factor
        f32 = np.float32
        actual = f32(acq.water_fat_shift) / f32(
            imaging_frequency * 3.4 * (acq.echo_train_length + 1))
        total = f32(actual * f32(acq.echo_train_length))
        out["EstimatedEffectiveEchoSpacing"] = _g6(float(f32(total / f32(recon_pe - 1))))
        out["EstimatedTotalReadoutTime"] = _g6(float(total))
    elif acq.vendor == "uih" and acq.readout_s > 0:  # dcm2niix: UIH's Acquisition Duration
        out["TotalReadoutTime"] = round(acq.readout_s, 9)
    if acq.pixel_bandwidth is not None:
        out["PixelBandwidth"] = acq.pixel_bandwidth
    if acq.dwell_time_s > 0:
        out["DwellTime"] = acq.dwell_time_s
    direction = _phase_direction(acq) if mr else None
    if direction is not None:
        out["PhaseEncodingDirection"] = direction
    elif mr and acq.phase_axis and not acq.is_3d:
        out["PhaseEncodingAxis"] = "j" if acq.phase_axis == "COL" else "i"
    times = slice_timing(volume, acq)
    if times is not None:
        out["SliceTiming"] = [round(t, 6) for t in times]


def slice_timing(volume: Volume, acq: Acquisition) -> list[float] | None:
    """SliceTiming (s) in our z order, or None (not MR, 3D, one slice, unknown)."""
    n = _n_slices(volume)
    times = acq.slice_times_ms
    if (times is None or acq.is_3d or n < 2 or len(times) < n
            or acq.fields.get("Modality") in ("CT", "PT")):
        return None
    return [t / 1000.0 for t in times[:n]]


def _orientation(volume: Volume) -> list[float] | None:
    """Image Orientation (Patient) as stored: row then column direction cosines."""
    direction = np.asarray(volume.affine, dtype=float)[:3, :3]
    norms = np.linalg.norm(direction, axis=0)
    if not np.all(norms > 0) or not np.isfinite(direction).all():
        return None
    unit = direction / norms
    iop = [*unit[:, 2], *unit[:, 1]]  # row direction = along columns (x), then along rows
    return [round(float(v), 6) + 0.0 for v in iop]


def _fallback_fields(volume: Volume) -> dict[str, Any]:
    """The series-level values Volume.meta holds, for a volume without a source file."""
    meta = volume.meta or {}
    names = {"Modality": "Modality", "Manufacturer": "Manufacturer",
             "ManufacturerModelName": "ManufacturersModelName",
             "MagneticFieldStrength": "MagneticFieldStrength",
             "SeriesDescription": "SeriesDescription", "ProtocolName": "ProtocolName",
             "SeriesNumber": "SeriesNumber", "ImageType": "ImageType",
             "BodyPartExamined": "BodyPart", "SliceThickness": "SliceThickness",
             "SpacingBetweenSlices": "SpacingBetweenSlices", "EchoTime": "EchoTime",
             "RepetitionTime": "RepetitionTime", "InversionTime": "InversionTime",
             "FlipAngle": "FlipAngle", "KVP": "KVP", "ConvolutionKernel": "ConvolutionKernel"}
    return {bids: meta[key] for key, bids in names.items() if meta.get(key) not in (None, "")}


def _version() -> str:
    from dicomdecode import __version__

    return str(__version__)


# --------------------------------------------------------------------------- diffusion


def diffusion_tables(volume: Volume, acq: Acquisition | None) -> tuple[str, str] | None:
    """The ``.bval`` and ``.bvec`` texts of a diffusion series (FSL format, as dcm2niix
    writes them), or None when the volume is not a diffusion series.

    b-values per volume on one line; gradient directions as three lines (x, y, z) in
    the voxel axes of the NIfTI we write, with x negated when the affine's determinant is
    positive (FSL's convention), so any FSL-convention reader recovers the scanner's
    direction from our file, as from dcm2niix's."""
    if acq is None or acq.fields.get("Modality") != "MR":
        return None
    n = _n_slices(volume)
    n_vol = len(volume.slices) // n if n else 0
    if volume.array.ndim < 4 or n_vol < 2 or n_vol * n != len(volume.slices):
        return None
    from dicomdecode.nifti import nifti_affine
    from dicomdecode.scan.flavours.acquisition import diffusion_of

    headers: dict[str, Any] = {}
    entries = []
    for v in range(n_vol):
        info = volume.slices[v * n]
        if info.path not in headers:
            headers[info.path] = _header(info.path)
        if headers[info.path] is None:
            return None
        entry = diffusion_of(headers[info.path], acq.vendor, info.frame)
        if entry is None:
            return None
        entries.append(entry)
    if not any(b > 0 for b, _ in entries):
        return None
    affine = nifti_affine(volume.affine)[:3, :3]
    axes = affine / np.linalg.norm(affine, axis=0)
    lps_to_ras = np.array([-1.0, -1.0, 1.0])
    vectors = []
    for _, g in entries:
        v = axes.T @ (np.asarray(g, float) * lps_to_ras)
        if np.linalg.det(axes) > 0:
            v[0] = -v[0]
        vectors.append(v + 0.0)
    bval = " ".join(_g(b) for b, _ in entries) + "\n"
    bvec = "".join(" ".join(_g(vec[i]) for vec in vectors) + "\n" for i in range(3))
    return bval, bvec


def _g(value: float) -> str:
    """A number as C's %g writes it (6 significant digits), as dcm2niix's tables."""
    text = f"{value:g}"
    return "0" if text == "-0" else text


# --------------------------------------------------------------------------- NIfTI header


def slice_code(times: list[float] | None) -> int:
    """NIfTI slice_code from slice times in z order, by dcm2niix's rule (0 = unknown,
    multiband or simultaneous)."""
    if not times or len(times) < 3:
        return 0
    first = times[0]
    if sum(1 for t in times if t == 0) >= 2 or all(t == first for t in times):
        return 0
    n = len(times)
    low = min(range(n), key=lambda i: (times[i], i))
    if low == 1:
        return _ALT_INC2
    if low == n - 2:
        return _ALT_DEC2
    if low == 0:
        return _SEQ_INC if times[1] < times[2] else _ALT_INC
    if low == n - 1:
        return _SEQ_DEC if times[n - 3] > times[n - 2] else _ALT_DEC
    return 0


def nifti_header_fields(volume: Volume, acq: Acquisition | None) -> dict[str, Any]:
    """The NIfTI header fields dcm2niix fills: ``descrip`` ("TE=30;Time=114815.000;
    phase=1"), ``dim_info`` (freq, phase, slice dims), ``slice_code``, and the TR in
    seconds for ``pixdim[4]``."""
    out: dict[str, Any] = {"descrip": "", "freq": None, "phase": None, "slice": None,
                           "slice_code": 0, "tr": None}
    if acq is None:
        return out
    parts = []
    if acq.fields.get("Modality") == "MR":
        parts.append(f"TE={acq.echo_time_ms or 0:.2g}")
    parts.append(f"Time={acq.acquisition_time_number or 0:.3f}")
    if acq.phase_positive is not None:
        parts.append(f"phase={acq.phase_positive}")
    if acq.multiband > 1:
        parts.append(f"mb={acq.multiband}")
    out["descrip"] = ";".join(parts)[:79]
    if acq.phase_axis == "ROW":
        out.update(freq=1, phase=0, slice=2)
    elif acq.phase_axis == "COL":
        out.update(freq=0, phase=1, slice=2)
    if acq.vendor == "siemens" and not acq.slice_times_from_protocol:
        # dcm2niix sets the slice order from the CSA times only
        times = slice_timing(volume, acq)
        out["slice_code"] = slice_code(times)
    out["tr"] = (acq.repetition_time_ms or 0.0) / 1000.0
    return out


__all__ = ["SOFTWARE", "acquisition", "bids_sidecar", "diffusion_tables", "jsonable",
           "nifti_header_fields", "provenance",
           "slice_code", "slice_provenance", "slice_timing", "volume_metadata"]
