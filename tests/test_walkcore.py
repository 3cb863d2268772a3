"""The compiled core (dicomdecode.read.walkcore and header) against itself run interpreted.

The core is Python source that setup.py compiles with Cython. Here the same sources are
also loaded as plain modules (importlib, under other names), and both must give the
same header view (elements, every value the scan reads, pixel offset) and the same
verdict (covered / not covered / malformed) on corpus files, pydicom's test files and
fuzz mutants. The values
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

from dicomdecode.read import header as header_module
from dicomdecode.read import walkcore
from tests.conftest import corpus_path

SOURCE = Path(walkcore.__file__).with_name("walkcore.py")


def _interpreted(name: str, **replace):
    """dicomdecode/read/<name>.py loaded from its source as a plain Python module (never
    the extension), with module attributes `replace`d (its core: the interpreted one)."""
    spec = importlib.util.spec_from_file_location(f"_{name}_interpreted",
                                                  SOURCE.with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    for attribute, value in replace.items():
        setattr(module, attribute, value)
    return module


INTERPRETED = _interpreted("walkcore")
INTERPRETED_HEADER = _interpreted("header", walkcore=INTERPRETED)


def test_interpreted_copy_really_is_interpreted():
    assert INTERPRETED.COMPILED is False
    assert INTERPRETED.__file__ == str(SOURCE)
    assert INTERPRETED_HEADER.__file__.endswith("header.py")
    assert INTERPRETED_HEADER.walkcore is INTERPRETED


def _expected_build() -> str:
    """'compiled' in CI (DICOMDECODE_REQUIRE_COMPILED=1), 'interpreted' in the session that
    hides the compiler (DICOMDECODE_EXPECT_INTERPRETED=1); elsewhere (a user's machine,
    either build is right) the build checks skip with that reason."""
    if os.environ.get("DICOMDECODE_EXPECT_INTERPRETED", "") not in ("", "0"):
        return "interpreted"
    if os.environ.get("DICOMDECODE_REQUIRE_COMPILED", "") not in ("", "0"):
        return "compiled"
    pytest.skip("neither DICOMDECODE_REQUIRE_COMPILED nor DICOMDECODE_EXPECT_INTERPRETED is set")


def test_compiled_core_present_when_required():
    """CI sets DICOMDECODE_REQUIRE_COMPILED=1: a build without the extension fails here;
    the no-compiler session must get the pure-Python core from the same sources."""
    if _expected_build() == "interpreted":
        assert not walkcore.COMPILED and walkcore.__file__.endswith("walkcore.py")
        assert header_module.__file__.endswith("header.py")
        return
    assert walkcore.COMPILED, f"walkcore runs interpreted from {walkcore.__file__}"
    assert not walkcore.__file__.endswith(".py")
    assert not header_module.__file__.endswith(".py")


#: setup.py's PLAIN_MODULES: the rest of the per-file path, compiled as it is (and the
#: typed modules beside walkcore: the RLE decoder and the integer rescale loop)
PLAIN_MODULES = ("dicomdecode.scan.values", "dicomdecode.scan.flavours.base",
                 "dicomdecode.scan.flavours", "dicomdecode.scan.flavours.classic",
                 "dicomdecode.scan.walk", "dicomdecode.read.pixel_source",
                 "dicomdecode.decode.stack", "dicomdecode.decode.dispatch",
                 "dicomdecode.read.frames", "dicomdecode.read.rlecore",
                 "dicomdecode.decode.widen")


@pytest.mark.parametrize("name", PLAIN_MODULES)
def test_per_file_path_compiled_when_required(name):
    """The per-file modules setup.py compiles (annotation typing off) are extensions in
    a CI build; interpreted, the same sources pass tests_interpreted's test files."""
    import importlib

    module = importlib.import_module(name)
    assert module.__file__ is not None
    if _expected_build() == "interpreted":
        assert module.__file__.endswith(".py"), module.__file__
        return
    assert not module.__file__.endswith(".py"), module.__file__
    source = name.replace(".", "/") + (
        "/__init__.py" if Path(module.__file__).name.startswith("__init__.") else ".py")
    assert f'"{source}"' in (Path(__file__).parent.parent / "setup.py").read_text()


def _view(path: Path, header=header_module, chunk: int | None = None):
    """What the header view of module `header` makes of `path`: None (not covered), an
    error, or (elements, every keyword's value or error, pixel offset, file meta)."""
    try:
        if chunk is None:
            fast = header.read_fast_header(str(path))
        else:  # fed in small pieces, as a ranged-read source would
            data = path.read_bytes()
            pos = [chunk]

            def read_more(n: int) -> bytes:
                got = data[pos[0]:pos[0] + min(n, chunk)]
                pos[0] += len(got)
                return got

            fast = header.header_from_buffer(data[:chunk], read_more)
    except Exception as exc:  # noqa: BLE001 - the type's name and message are compared
        return f"{type(exc).__name__}: {exc}"
    if fast is None:
        return None
    return (fast._raw, _values(fast), fast.pixel_offset, fast.pixel_encapsulated,
            fast.file_meta.TransferSyntaxUID, fast.file_meta.MediaStorageSOPClassUID)


def _values(fast) -> dict[str, object]:
    """Every keyword of the scan's table as the view converts it (or the error's name)."""
    out: dict[str, object] = {}
    for keyword in header_module._KEYWORDS:
        try:
            out[keyword] = fast.get(keyword)
        except Exception as exc:  # noqa: BLE001
            out[keyword] = type(exc).__name__
    return out


def _corpus_files(limit: int = 400) -> list[Path]:
    root = corpus_path()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in
                   (".tsv", ".md", ".json", ".txt", ".nii", ".gz", ".bval", ".bvec"))
    step = max(1, len(files) // limit)
    return files[::step]


def test_same_header_view_on_pydicom_test_files():
    import pydicom.data

    # the files inside the pydicom package (get_testdata_files may try to download more)
    files = sorted((Path(pydicom.data.__file__).parent / "test_files").rglob("*.dcm"))
    assert len(files) > 50
    for path in files:
        assert _view(path) == _view(path, INTERPRETED_HEADER), path


@pytest.mark.corpus
def test_same_header_view_on_the_corpus(corpus):
    files = _corpus_files()
    assert len(files) > 100
    covered = 0
    for path in files:
        compiled = _view(path)
        assert compiled == _view(path, INTERPRETED_HEADER), path
        covered += isinstance(compiled, tuple)
    assert covered > len(files) // 2  # most real files are walked, not declined


@pytest.mark.corpus
def test_fed_in_small_pieces_gives_the_same_view(corpus):
    """A source that delivers 100 bytes per read (a ranged reader) gets the same header."""
    for path in _corpus_files(40):
        assert _view(path, chunk=100) == _view(path), path


def _mutants(count: int) -> Iterator[bytes]:
    from fuzz.mutate import SeedSet, default_seed_files, mutant_at

    seeds = SeedSet(default_seed_files())
    for index in range(count):
        yield mutant_at(seeds, 19, index).data


@pytest.mark.corpus
def test_same_verdict_on_fuzz_mutants(corpus, tmp_path):
    path = tmp_path / "mutant.dcm"
    for data in _mutants(300):
        path.write_bytes(data)
        compiled, interpreted = _view(path), _view(path, INTERPRETED_HEADER)
        # repr: a "nan" DS value is float NaN in both, and NaN != NaN
        assert compiled == interpreted or repr(compiled) == repr(interpreted)


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
    for start in (-1, -8, len(data) + 1):  # a start outside the buffer is refused
        with pytest.raises(ValueError):
            core.walk_elements(data, start, False, False, False, {})
    with pytest.raises(TypeError):
        core.walk_elements(None, 0, False, False, False, {})


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


def test_info_says_which_core_runs(capsys):
    from dicomdecode.apps.cli import main

    assert main(["info", "--json"]) == 0
    import json

    info = json.loads(capsys.readouterr().out)
    assert info["compiled_core"] is walkcore.COMPILED
    assert info["core_module"] == walkcore.__file__


@pytest.mark.parametrize("header", [header_module, INTERPRETED_HEADER],
                         ids=["compiled", "interpreted"])
def test_any_bytes_like_buffer_is_accepted(header):
    """A ranged-read source may hold a memoryview or a bytearray: both views accept it."""
    path = get_testdata_file("CT_small.dcm")
    data = Path(path).read_bytes()
    expected = header.read_fast_header(path)
    for buffer in (memoryview(data)[:300], bytearray(data[:300])):
        rest = [data[300:]]
        got = header.header_from_buffer(buffer, lambda _n, rest=rest: rest.pop() if rest
                                        else b"", len(data))
        assert got is not None and got._raw == expected._raw
        assert got.pixel_offset == expected.pixel_offset > 0


@pytest.mark.parametrize("core", [walkcore, INTERPRETED], ids=["compiled", "interpreted"])
def test_records_lookup_agrees_with_the_element_dict(core):
    """walk_records + find_record/lookup (what the header view reads) give what
    walk_elements' dict holds: tags in order are binary-searched; out of order or
    repeated, the last one wins, as in the dict."""
    from array import array

    ordered = (_element(0x0008, 0x0060, b"CS", b"CT") + _element(0x0010, 0x0010, b"PN", b"A^B ")
               + _element(0x0020, 0x0013, b"IS", b"7 "))
    shuffled = (_element(0x0020, 0x0013, b"IS", b"7 ") + _element(0x0008, 0x0060, b"CS", b"CT")
                + _element(0x0020, 0x0013, b"IS", b"9 "))
    for data, ascending in ((ordered, True), (shuffled, False)):
        records = array("q")
        raw: dict = {}
        assert (core.walk_records(data, 0, False, False, False, records)
                == core.walk_elements(data, 0, False, False, False, raw))
        assert core.strictly_ascending(records) is ascending
        for tag in raw:
            index = core.find_record(records, tag, ascending)
            assert core.element_at(data, records, index) == raw[tag]
            code, value = core.lookup(data, records, tag, ascending)
            assert value == raw[tag][1] and code == (raw[tag][0][0] << 8 | raw[tag][0][1])
        for missing in (0, 0x00080059, 0x00200014, 0xFFFFFFFF):
            assert core.find_record(records, missing, ascending) == -1
            assert core.lookup(data, records, missing, ascending) is None
        tags = array("q", [0x00200013, 0x00080061, 0x00080060])
        assert core.lookup_many(data, records, tags, ascending) == tuple(
            core.lookup(data, records, tag, ascending) for tag in tags)


@pytest.mark.parametrize("core", [walkcore, INTERPRETED], ids=["compiled", "interpreted"])
def test_fingerprint_is_equal_exactly_when_the_elements_are(core):
    """fingerprint (the scan's per-series cache key) is one bytes object that is equal
    for two buffers exactly when lookup_many's (VR code, bytes) tuples are: a value that
    differs, moves between tags, changes VR or goes missing gives another key; compiled
    and interpreted give the same bytes."""
    from array import array

    tags = array("q", [0x00080060, 0x00100010, 0x00200013, 0x00200014])
    variants = [
        _element(0x0008, 0x0060, b"CS", b"CT") + _element(0x0010, 0x0010, b"PN", b"A^B "),
        _element(0x0008, 0x0060, b"CS", b"CT") + _element(0x0010, 0x0010, b"PN", b"A^C "),
        _element(0x0008, 0x0060, b"CS", b"CTA^") + _element(0x0010, 0x0010, b"PN", b"B "),
        _element(0x0008, 0x0060, b"SH", b"CT") + _element(0x0010, 0x0010, b"PN", b"A^B "),
        _element(0x0008, 0x0060, b"CS", b"CT") + _element(0x0020, 0x0013, b"PN", b"A^B "),
        _element(0x0008, 0x0060, b"CS", b"CT"),
        _element(0x0008, 0x0060, b"CS", b"CT") + _element(0x0010, 0x0010, b"PN", b""),
        b"\x00\x00\x00\x00" + _element(0x0008, 0x0060, b"CS", b"CT")
        + _element(0x0010, 0x0010, b"PN", b"A^B "),
    ]
    keys, looked = [], []
    for data in variants:
        records = array("q")
        start = 4 if data.startswith(b"\x00" * 4) else 0
        core.walk_records(data, start, False, False, False, records)
        ascending = core.strictly_ascending(records)
        keys.append(core.fingerprint(data, records, tags, ascending))
        looked.append(core.lookup_many(data, records, tags, ascending))
        assert keys[-1] == INTERPRETED.fingerprint(data, records, tags, ascending)
    for i in range(len(variants)):
        for j in range(len(variants)):
            assert (keys[i] == keys[j]) == (looked[i] == looked[j]), (i, j)
    records = array("q", [0x00080060, 0x4353, 2, 100])  # a record past the buffer's end
    with pytest.raises(ValueError):
        core.fingerprint(variants[0], records, tags, True)
