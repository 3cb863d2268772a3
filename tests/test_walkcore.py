"""The compiled core (dicomdecode.read.walkcore) against itself run interpreted, and against
pydicom.

The core is one Python source that setup.py compiles with Cython. Here the same source is
also loaded as a plain module (importlib, under another name), and both must give the
same header view (values, pixel offset) and the same verdict (covered / not covered /
malformed) on every corpus file, pydicom's test files and fuzz mutants. The values
themselves are compared with pydicom, an independent parser, in tests/test_header.py;
here, the interpreted run is the witness that compiling changed nothing.

``DICOMDECODE_REQUIRE_COMPILED=1`` (set by .ci/run) makes the absence of the compiled
extension a failure, so a CI build that silently fell back to the slow path is caught.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from pydicom.data.data_manager import get_testdata_files

from dicomdecode.read import header as header_module
from dicomdecode.read import walkcore
from tests.conftest import corpus_path

SOURCE = Path(walkcore.__file__).with_name("walkcore.py")


def _interpreted_core():
    """walkcore.py loaded from its source as a plain Python module (never the extension)."""
    spec = importlib.util.spec_from_file_location("_walkcore_interpreted", SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


INTERPRETED = _interpreted_core()


def test_interpreted_copy_really_is_interpreted():
    assert INTERPRETED.COMPILED is False
    assert INTERPRETED.__file__ == str(SOURCE)


def test_compiled_core_present_when_required():
    """CI sets DICOMDECODE_REQUIRE_COMPILED=1: a build without the extension fails here."""
    required = os.environ.get("DICOMDECODE_REQUIRE_COMPILED", "") not in ("", "0")
    if not required:
        pytest.skip("DICOMDECODE_REQUIRE_COMPILED is not set")
    assert walkcore.COMPILED, f"walkcore runs interpreted from {walkcore.__file__}"
    assert not walkcore.__file__.endswith(".py")


def _view(path: Path, core, monkeypatch: pytest.MonkeyPatch, chunk: int | None = None):
    """What the header view makes of `path` with `core`: None (not covered), an error
    name, or (raw elements, pixel offset, encapsulated, file meta)."""
    monkeypatch.setattr(header_module, "walkcore", core)
    try:
        if chunk is None:
            header = header_module.read_fast_header(str(path))
        else:  # fed in small pieces, as a ranged-read source would
            data = path.read_bytes()
            pos = [chunk]

            def read_more(n: int) -> bytes:
                got = data[pos[0]:pos[0] + min(n, chunk)]
                pos[0] += len(got)
                return got

            header = header_module.header_from_buffer(data[:chunk], read_more)
    except header_module.NeedsFullParse as exc:
        return f"NeedsFullParse: {exc}"
    except Exception as exc:  # noqa: BLE001 - the type is what is compared
        return f"{type(exc).__name__}: {exc}"
    finally:
        monkeypatch.setattr(header_module, "walkcore", walkcore)
    if header is None:
        return None
    return (header._raw, header.pixel_offset, header.pixel_encapsulated,
            header.file_meta.TransferSyntaxUID, header.file_meta.MediaStorageSOPClassUID)


def _corpus_files(limit: int = 400) -> list[Path]:
    root = corpus_path()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in
                   (".tsv", ".md", ".json", ".txt", ".nii", ".gz", ".bval", ".bvec"))
    step = max(1, len(files) // limit)
    return files[::step]


def test_same_header_view_on_pydicom_test_files(monkeypatch):
    files = [Path(p) for p in get_testdata_files("*.dcm")]
    assert len(files) > 50
    for path in files:
        assert _view(path, walkcore, monkeypatch) == _view(path, INTERPRETED, monkeypatch), path


@pytest.mark.corpus
def test_same_header_view_on_the_corpus(corpus, monkeypatch):
    files = _corpus_files()
    assert len(files) > 100
    covered = 0
    for path in files:
        compiled = _view(path, walkcore, monkeypatch)
        assert compiled == _view(path, INTERPRETED, monkeypatch), path
        covered += isinstance(compiled, tuple)
    assert covered > len(files) // 2  # most real files are walked, not declined


@pytest.mark.corpus
def test_fed_in_small_pieces_gives_the_same_view(corpus, monkeypatch):
    """A source that delivers 100 bytes per read (a ranged reader) gets the same header."""
    for path in _corpus_files(40):
        assert _view(path, walkcore, monkeypatch, chunk=100) == _view(path, walkcore,
                                                                      monkeypatch), path


def _mutants(count: int) -> Iterator[bytes]:
    from fuzz.mutate import SeedSet, default_seed_files, mutant_at

    seeds = SeedSet(default_seed_files())
    for index in range(count):
        yield mutant_at(seeds, 19, index).data


@pytest.mark.corpus
def test_same_verdict_on_fuzz_mutants(corpus, tmp_path, monkeypatch):
    path = tmp_path / "mutant.dcm"
    for data in _mutants(300):
        path.write_bytes(data)
        assert _view(path, walkcore, monkeypatch) == _view(path, INTERPRETED, monkeypatch)


# --- the walk's own contract, on hand-built bytes -------------------------------------

def _element(group: int, element: int, vr: bytes, value: bytes, length: int | None = None
             ) -> bytes:
    n = len(value) if length is None else length
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2s2xI", group, element, vr, n) + value
    return struct.pack("<HH2sH", group, element, vr, n) + value


ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQ_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


@pytest.mark.parametrize("core", [walkcore, INTERPRETED], ids=["compiled", "interpreted"])
def test_deep_nesting_is_skipped_without_recursion(core):
    """100,000 nested undefined-length sequences: bytes to skip, never a recursion limit
    or a C stack overflow."""
    depth = 100_000
    nested = (_element(0x0040, 0x0275, b"SQ", b"", 0xFFFFFFFF) + ITEM) * depth
    nested += (ITEM_END + SEQ_END) * depth
    data = nested + _element(0x0010, 0x0010, b"PN", b"Doe^J ") + _element(
        0x7FE0, 0x0010, b"OW", b"\0\0", 2)
    raw: dict = {}
    status, pos, length, tag = core.walk_elements(data, 0, False, False, False, raw)
    assert (status, tag, length) == (core.PIXEL, 0x7FE00010, 2)
    assert pos == len(data) - 14
    assert raw[0x00100010] == (b"PN", b"Doe^J ")
    assert raw[0x00400275] == (b"SQ", b"")


@pytest.mark.parametrize("core", [walkcore, INTERPRETED], ids=["compiled", "interpreted"])
def test_need_more_says_how_many_bytes(core):
    data = _element(0x0010, 0x0010, b"PN", b"Doe^J ") + _element(0x0010, 0x0020, b"LO",
                                                                b"12345678")
    for cut in range(len(data)):
        raw: dict = {}
        status, pos, need, _ = core.walk_elements(data[:cut], 0, False, False, False, raw)
        assert status == core.NEED
        assert pos in (0, 14) and cut < need <= len(data)
    status, pos, need, _ = core.walk_elements(data, 0, False, False, False, {})
    assert (status, pos, need) == (core.NEED, len(data), len(data) + 8)  # end of data


@pytest.mark.parametrize("core", [walkcore, INTERPRETED], ids=["compiled", "interpreted"])
def test_hostile_lengths_are_never_read(core):
    """A length of 4 GiB - 2 in a 20-byte buffer: NEED with that end, nothing allocated."""
    data = _element(0x0010, 0x0010, b"UT", b"abc", 0xFFFFFFFE)
    status, pos, need, _ = core.walk_elements(data, 0, False, False, False, {})
    assert (status, pos, need) == (core.NEED, 0, 12 + 0xFFFFFFFE)
    status, *_ = core.walk_elements(b"\x10\x00\x10\x00zz\x02\x00ab", 0, False, False, False,
                                    {})
    assert status == core.BAD


def test_big_endian_walk_matches_pydicom():
    """The walk reads explicit VR big endian too (element heads byte-swapped)."""
    path = get_testdata_file("ExplVR_BigEnd.dcm")
    data = Path(path).read_bytes()
    meta: dict = {}
    status, pos, _, _ = walkcore.walk_elements(data, 132, False, False, True, meta)
    assert status == walkcore.META_END
    raw: dict = {}
    status, offset, length, tag = walkcore.walk_elements(data, pos, False, True, False, raw)
    import pydicom

    ds = pydicom.dcmread(path)
    assert status == walkcore.PIXEL and tag == 0x7FE00010
    assert length == len(ds.PixelData)
    assert raw[0x00280010][1] == struct.pack(">H", ds.Rows)
    assert raw[0x00100010][1].decode().rstrip(" \0") == str(ds.PatientName)
