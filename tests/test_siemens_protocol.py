"""The Siemens protocol block (ASCCONV) against nibabel's independent parser.

:mod:`dicomdecode.scan.flavours.protocol` looks keys up as dcm2niix does (substring, digits
of the rest of the line); nibabel's ``nicom.ascconv`` parses the block into a tree. Where
both read a key they must agree: on a synthetic block (no corpus needed) and on every
corpus Siemens series whose block nibabel parses (the newer XA blocks it rejects are
covered by the live dcm2niix comparison in ``test_sidecar_dcm2niix.py``).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from dicomdecode.scan.flavours.protocol import Protocol, protocol_keys, siemens_protocol

with warnings.catch_warnings():  # nibabel.nicom warns "experimental" on import
    warnings.simplefilter("ignore")
    from nibabel.nicom import ascconv

BLOCK = """### ASCCONV BEGIN ###
ulVersion\t = \t0x14b44b6
tSequenceFileName\t = \t""%SiemensSeq%\\ep2d_bold""
sProtConsistencyInfo.tBaselineString\t = \t""N4_VB17A_LATEST_20090307""
sGRADSPEC.asGPAData[0].lOffsetX\t = \t-3717
sGRADSPEC.asGPAData[0].lOffsetY\t = \t15233
sGRADSPEC.asGPAData[0].lOffsetZ\t = \t-9833
sGRADSPEC.alShimCurrent[0]\t = \t-207
sGRADSPEC.alShimCurrent[1]\t = \t-312
sGRADSPEC.alShimCurrent[2]\t = \t-110
sGRADSPEC.alShimCurrent[3]\t = \t150
sGRADSPEC.alShimCurrent[4]\t = \t226
sTXSPEC.asNucleusInfo[0].flReferenceAmplitude\t = \t316.97
sRXSPEC.asList[0].sCoilElementID.tCoilID\t = \t""Head_32""
sKSpace.lBaseResolution\t = \t72
sKSpace.lPhaseEncodingLines\t = \t72
sKSpace.dPhaseResolution\t = \t1.0
sKSpace.ucPhasePartialFourier\t = \t0x8
sPat.lAccelFactPE\t = \t2
sPat.lAccelFact3D\t = \t1
sPat.lRefLinesPE\t = \t24
sPat.ucPATMode\t = \t0x2
lDelayTimeInTR\t = \t500000
### ASCCONV END ###"""

#: dcm2niix's key -> the protocol path nibabel gives it from
_PATHS = {
    "BaseResolution": ("sKSpace", "lBaseResolution"),
    "TxRefAmp": ("sTXSPEC", "asNucleusInfo", 0, "flReferenceAmplitude"),
    "PhaseResolution": ("sKSpace", "dPhaseResolution"),
    "RefLinesPE": ("sPat", "lRefLinesPE"),
    "PulseSequenceDetails": ("tSequenceFileName",),
    "DelayTime": ("lDelayTimeInTR",),
}


def _get(tree: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        tree = tree[step]
    return tree


def _expected(tree: Any, key: str) -> Any:
    value = _get(tree, _PATHS[key])
    return value / 1e6 if key == "DelayTime" else value


def _nibabel(text: str) -> Any:
    """nibabel's tree of the block; the array-size lines ("x.__attribute__.size = 1") of
    newer blocks, which nibabel's grammar rejects, left out."""
    body = text[text.index("### ASCCONV BEGIN"):].rstrip("\n")
    body = "\n".join(line for line in body.split("\n") if "__attribute__" not in line)
    if "### ASCCONV END ###" not in body:
        body += "\n### ASCCONV END ###"
    return ascconv.parse_ascconv(body, str_delim='""')[0]


def test_synthetic_block_agrees_with_nibabel() -> None:
    tree = _nibabel(BLOCK)
    keys = protocol_keys(Protocol(BLOCK), "MR")
    for key in _PATHS:
        assert keys[key] == pytest.approx(_expected(tree, key)), key
    shims = [_get(tree, ("sGRADSPEC", "asGPAData", 0, "lOffset" + a)) for a in "XYZ"]
    shims += list(_get(tree, ("sGRADSPEC", "alShimCurrent")))
    assert keys["ShimSetting"] == shims
    assert keys["ReceiveCoilName"] == tree["sRXSPEC"]["asList"][0]["sCoilElementID"]["tCoilID"]
    assert keys["ConsistencyInfo"] == tree["sProtConsistencyInfo"]["tBaselineString"]
    assert keys["_accel_pe"] == tree["sPat"]["lAccelFactPE"]
    assert keys["MatrixCoilMode"] == "GRAPPA"  # ucPATMode 2
    assert keys["PartialFourier"] == 0.875  # ucPhasePartialFourier 8 = 7/8


@pytest.mark.parametrize("text", ["", "### ASCCONV BEGIN ###", "sKSpace.lBaseResolution = ",
                                  "### ASCCONV BEGIN ###\nsPat.lAccelFactPE = = 0x\xff\n"
                                  'tSequenceFileName = ""\n', "\x00" * 64,
                                  "sKSpace.lBaseResolution = " + "9" * 5000,
                                  "sKSpace.dPhaseResolution = " + "9" * 400 + ".5"])
def test_malformed_blocks_give_no_keys_or_errors(text: str) -> None:
    """Truncated, garbled or absurd protocol text: lookups find nothing or 0 (a number
    too long for any protocol value included), never raise."""
    keys = protocol_keys(Protocol(text), "MR")
    assert "BaseResolution" not in keys and "PulseSequenceDetails" not in keys
    assert "PhaseResolution" not in keys


def _siemens_series(corpus: Path) -> list[Path]:
    firsts = []
    for folder in sorted({p.parent for p in corpus.glob("dcm_qa_*/In/**/*.dcm")}):
        firsts.append(sorted(folder.glob("*.dcm"))[0])
    return firsts


@pytest.mark.corpus
def test_corpus_protocols_agree_with_nibabel(corpus: Path) -> None:
    import pydicom

    compared = 0
    for path in _siemens_series(corpus):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        protocol = siemens_protocol(ds)
        if protocol is None:
            continue
        try:
            tree = _nibabel(protocol.text)
        except ascconv.AscconvParseError:
            continue  # newer blocks nibabel does not parse: see the dcm2niix test
        keys = protocol_keys(protocol, "MR")
        for key in _PATHS:
            try:
                expected = _expected(tree, key)
            except (KeyError, IndexError):
                assert key not in keys, (path.name, key)
                continue
            if key == "DelayTime" and expected <= 0:
                assert key not in keys
                continue
            if isinstance(expected, str):
                assert keys[key] == expected, (path.name, key)
            else:  # we write six significant digits, as dcm2niix's %g
                assert keys[key] == pytest.approx(expected, rel=1e-5), (path.name, key)
        compared += 1
    assert compared >= 6  # VB12, VB17, VD13, VE11 and XA10 series parse
