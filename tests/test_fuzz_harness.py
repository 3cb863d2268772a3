"""The fuzz harness itself (fuzz/): its mutants are reproducible and its classifier is right.

A fuzzer that silently stops mutating, or that calls a dead worker "ok", reports a clean
library while finding nothing; these tests pin the parts every finding depends on. Only
repo test_data seeds are used, so they run on a fresh clone without the corpus.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from fuzz.mutate import KIND_NAMES, SeedSet, mutant_at, mutants, seed_family
from fuzz.run import run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def seeds() -> SeedSet:
    files = sorted((ROOT / "test_data").glob("*.dcm"))
    files += sorted((ROOT / "test_data" / "series").glob("**/*.dcm"))
    return SeedSet(files, ROOT)


def test_same_seed_same_bytes(seeds: SeedSet) -> None:
    first = [(m.id, m.kind, m.seed_file, m.data) for m in mutants(seeds, 40, seed=7)]
    again = [(m.id, m.kind, m.seed_file, m.data) for m in mutants(seeds, 40, seed=7)]
    other = [m.data for m in mutants(seeds, 40, seed=8)]
    assert first == again
    assert [d for *_, d in first] != other
    # one mutant rebuilt alone (what --only does) is the same as in the run
    assert mutant_at(seeds, 7, 13).data == first[13][3]


@pytest.mark.parametrize("kind", KIND_NAMES)
def test_every_kind_mutates(seeds: SeedSet, kind: str) -> None:
    by_label = {s.label: s.data for s in seeds.seeds}
    for index in range(5):
        m = mutant_at(seeds, 1, index, kind=kind)
        assert m.kind == kind
        assert m.data and m.data != by_label[m.seed_file], m.description


@pytest.mark.parametrize(("api", "expected", "detail"), [
    ("_test_abort", "crash", "SIGABRT"),
    ("_test_sleep", "hang", "killed"),
    ("_test_keyerror", "untyped", "KeyError"),
    ("_test_memory", "bomb", "MemoryError"),
])
def test_classifier(seeds: SeedSet, api: str, expected: str, detail: str) -> None:
    results = run(seeds, [0, 1], 1, [api], every=1, workers=1, timeout=2.0, progress=False)
    assert [r["class"] for r in results] == [expected, expected]  # the worker was replaced
    assert detail in results[0]["detail"]


def test_seed_selection_by_family_uid_and_glob(seeds: SeedSet) -> None:
    """--seeds: a codec family, a transfer syntax UID or a path glob; corpus names rarely
    say their syntax, so the family is read from the file, not the name."""
    import pydicom

    files = [s.path for s in seeds.seeds]
    chosen = SeedSet(files, ROOT, select="htj2k,jpegxl")
    assert chosen.seeds and {seed_family(s) for s in chosen.seeds} == {"htj2k", "jpegxl"}
    for s in chosen.seeds:  # independent of our parser: pydicom's reading of the meta
        uid = pydicom.dcmread(s.path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        assert uid.startswith(("1.2.840.10008.1.2.4.20", "1.2.840.10008.1.2.4.11"))
    by_uid = SeedSet(files, ROOT, select="1.2.840.10008.1.2.5")
    by_glob = SeedSet(files, ROOT, select="test_data/*__rle.dcm")
    assert {s.label for s in by_glob.seeds} <= {s.label for s in by_uid.seeds}
    assert by_glob.seeds and all(s.label.endswith("__rle.dcm") for s in by_glob.seeds)
    with pytest.raises(ValueError, match="no seed file"):
        SeedSet(files, ROOT, select="nonesuch")


@pytest.mark.needs_handler("imagecodecs")
def test_jpegxl_seeds_get_size_header_bombs(seeds: SeedSet, tmp_path: Path) -> None:
    """decompression_bomb reaches JPEG XL (a bit-packed size header, unlike SOF/SIZ, so
    the frame is rebuilt): the size the guard's parser reads back (itself checked against
    libjxl-written streams in test_validate) is the one the mutant names, and is refused."""
    import pydicom
    from pydicom.encaps import generate_frames

    from dicomdecode import decode_file
    from dicomdecode.errors import DecodeError
    from dicomdecode.read.codestream import codestream_info

    jxl = SeedSet([s.path for s in seeds.seeds], ROOT, select="jpegxl")
    for index in range(6):
        m = mutant_at(jxl, 3, index, kind="decompression_bomb")
        ds = pydicom.dcmread(io.BytesIO(m.data))
        frames = list(generate_frames(ds.PixelData, number_of_frames=int(
            getattr(ds, "NumberOfFrames", 1))))
        k = int(m.description.rsplit("frag", 1)[1])
        size = m.description.split("header ", 1)[1].split()[0]
        info = codestream_info("jpegxl", frames[k])
        assert info is not None and f"{info.rows}x{info.columns}" == size
        assert info.rows * info.columns >= 65535 * 512 > ds.Rows * ds.Columns
        path = tmp_path / f"{m.id}.dcm"
        path.write_bytes(m.data)
        with pytest.raises(DecodeError, match=f"says {size} "):
            decode_file(path)


def test_flip_pixels_reaches_codestream_headers(seeds: SeedSet) -> None:
    """A third of the encapsulated flip_pixels mutants flip bytes among the first
    CODESTREAM_HEAD bytes of a codestream (SOF/SIZ/COD, the JPEG XL headers), where a
    spread-out flip rarely lands; the bytes that differ are where the description says."""
    from fuzz.mutate import CODESTREAM_HEAD

    encaps = SeedSet([s.path for s in seeds.seeds], ROOT, select="htj2k,jpegxl,j2k")
    by_label = {s.label: s for s in encaps.seeds}
    heads = 0
    for index in range(60):
        m = mutant_at(encaps, 11, index, kind="flip_pixels")
        if not m.description.startswith("codestream head"):
            continue
        heads += 1
        item = int(m.description.split("item at ")[1].split(")")[0])
        seed = by_label[m.seed_file].data
        changed = [i for i, (a, b) in enumerate(zip(seed, m.data, strict=True)) if a != b]
        assert changed and all(item + 8 <= i < item + 8 + CODESTREAM_HEAD for i in changed)
    assert 10 <= heads <= 35


def test_call_workers_reach_the_worker(seeds: SeedSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """--call-workers: the worker process's dicomdecode sees that many workers (so a
    multi-frame file decodes on threads); the default stays one."""
    import fuzz.run as fuzz_run

    assert fuzz_run._worker_env()["DICOMDECODE_WORKERS"] == "1"
    monkeypatch.setattr(fuzz_run, "CALL_WORKERS", 3)
    assert fuzz_run._worker_env()["DICOMDECODE_WORKERS"] == "3"
    results = run(seeds, [0, 1, 2], 1, ["decode_file", "load"], every=1, workers=1,
                  timeout=30.0, progress=False)
    assert len(results) == 6 and all(r["class"] in ("ok", "typed") for r in results)
