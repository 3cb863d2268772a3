"""The default install is licence-permissive and still decodes everything.

``pip install "dicomdecode[all]"`` must pull no GPL distribution (dicomdecode is MIT), yet
every transfer syntax a handler knows must decode with what it installs, the 12-bit and
retired JPEG processes included (they used to need the GPL libjpeg). ``nox -s licences``
runs this module in an environment holding ``[all]`` and nothing else; the main test
session runs it too, next to the GPL libjpeg it uses as a reference.
"""

from __future__ import annotations

import re
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from dicomdecode import decode
from dicomdecode.decode.dispatch import candidates
from dicomdecode.read import transfer_syntax as ts

from .decode_helpers import LOSSY_TOLERANCE, max_abs_diff

# the handlers `[all]` installs (libjpeg is the GPL one it leaves out)
ALL_EXTRA_HANDLERS = ("native", "imagecodecs", "pylibjpeg", "gdcm", "charls")
pytestmark = pytest.mark.needs_handler("imagecodecs", "pylibjpeg", "gdcm", "charls")

_GPL = re.compile(r"(?<![L\w])(A?GPL)|GNU (Affero )?General Public License", re.IGNORECASE)


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(name: str, extras: frozenset[str]) -> dict[str, metadata.Distribution]:
    """Every installed distribution `name[extras]` requires, transitively (markers
    evaluated for this interpreter), by normalised name. A requirement that is not
    installed raises PackageNotFoundError: the environment is not `[all]`."""
    seen: dict[str, metadata.Distribution] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    todo = [(name, extras)]
    while todo:
        current, wanted = todo.pop()
        if (_key(current), wanted) in visited:
            continue
        visited.add((_key(current), wanted))
        dist = metadata.distribution(current)
        seen[_key(current)] = dist
        environments = [{"extra": e} for e in wanted] or [{"extra": ""}]
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate(env) for env in environments):
                todo.append((req.name, frozenset(req.extras)))
    return seen


def _licence_text(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    parts = [meta.get("License", "") or "", meta.get("License-Expression", "") or ""]
    parts += [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return " | ".join(p.splitlines()[0] if p else "" for p in parts if p)


def test_all_extra_pulls_no_gpl_distribution() -> None:
    closure = _closure("dicomdecode", frozenset({"all"}))
    assert {"imagecodecs", "python-gdcm", "pyjpegls", "pylibjpeg-openjpeg"} <= set(closure)
    assert "pylibjpeg-libjpeg" not in closure
    gpl = {name: _licence_text(dist) for name, dist in closure.items()
           if _GPL.search(_licence_text(dist))}
    assert not gpl, f"[all] pulls GPL-licensed distributions: {gpl}"


def test_gpl_pattern_tells_gpl_from_lgpl_and_permissive() -> None:
    assert _GPL.search("GPL-3.0-or-later")
    assert _GPL.search("License :: OSI Approved :: GNU General Public License v3 (GPLv3)")
    assert not _GPL.search("LGPL-2.1")
    assert not _GPL.search("License :: OSI Approved :: BSD License | BSD-3-Clause")
    assert not _GPL.search("MIT")


def _all_extra_handlers(uid: str) -> list[str]:
    return [h.name for h in candidates(uid) if h.name in ALL_EXTRA_HANDLERS]


def test_every_known_syntax_decodes_with_the_all_extra() -> None:
    """Each syntax some handler knows has one in `[all]`; the common compressed ones
    (RLE, JPEG 8/12-bit and lossless, JPEG-LS, J2K, HTJ2K) have two."""
    for uid, row in ts.TRANSFER_SYNTAXES.items():
        if row.handlers:
            assert _all_extra_handlers(uid), f"{row.name} ({uid}) has no [all] handler"
    for suffix in ("5", "4.50", "4.51", "4.57", "4.70", "4.80", "4.81", "4.90", "4.91",
                   "4.201", "4.202", "4.203"):
        uid = f"1.2.840.10008.1.2.{suffix}"
        assert len(_all_extra_handlers(uid)) >= 2, (uid, _all_extra_handlers(uid))


WITHOUT_GPL = ",".join(name for name in ALL_EXTRA_HANDLERS if name != "native")
RETIRED_AND_12_BIT = [
    "pylibjpeg-data/ljdata/ds/JPEGExtended/JPEGExtended_1s_1f_u_16_12.dcm",
    "pylibjpeg-data/ljdata/ds/JPEGExtended/RG2_JPLY_fixed.dcm",
    "cornerstone3D/packages/dicomImageLoader/testImages/"
    "CTImage.dcm_JPEGProcess6_8TransferSyntax_1.2.840.10008.1.2.4.53.dcm",
    "cornerstone3D/packages/dicomImageLoader/testImages/"
    "CTImage.dcm_JPEGProcess10_12TransferSyntax_1.2.840.10008.1.2.4.55.dcm",
]


@pytest.mark.corpus
@pytest.mark.parametrize("relative", RETIRED_AND_12_BIT)
def test_12_bit_and_retired_jpeg_decode_without_gpl_code(corpus, relative) -> None:
    """Decoded by permissive code alone; equal (within the lossy tolerance) to the GPL
    libjpeg wherever that is installed as a reference."""
    path = corpus / relative
    ours = decode(path, handlers=WITHOUT_GPL)
    assert ours.handler in ALL_EXTRA_HANDLERS
    assert ours.array.std() > 0
    try:
        __import__("libjpeg")
    except ImportError:
        return  # the `licences` session: the parity test of the main session compares
    reference = decode(path, handlers="libjpeg").array
    assert ours.array.shape == reference.shape and ours.array.dtype == reference.dtype
    assert max_abs_diff(ours.array, reference) <= LOSSY_TOLERANCE
