"""Every entry point gives the same answer: the same pixels and dtype, or a refusal.

``fuzz.differential.check`` puts one file through decode_file, decode(bytes), load,
SliceDataset, convert --format npy and compat.combine_slices. Here it runs on every
test_data file, on the header values the scan and the guard once judged differently
(issue 20: Bits Allocated 0, Samples per Pixel 0, Number of Frames 'abc', an unknown VR on
Instance Number), on a consistent decompression bomb, and (through the fuzz harness, in
worker processes, since a mutant may abort a codec) on mutants of test_data.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from fuzz.differential import ROADS, check
from fuzz.mutate import SeedSet
from fuzz.run import run

from .conftest import ROOT, TEST_DATA
from .test_bombs import _consistent_bomb

FILES = sorted(TEST_DATA.glob("*.dcm")) + sorted((TEST_DATA / "series").glob("**/*.dcm"))


def _assert_agree(path: Path) -> list[str]:
    verdict = check(path)
    assert not verdict.untyped, verdict.untyped
    assert not verdict.disagree, verdict.disagree
    return [o.summary() for o in verdict.outcomes]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_test_data_agrees_on_every_road(path: Path) -> None:
    verdict = check(path)
    assert not verdict.disagree and not verdict.untyped, verdict.disagree or verdict.untyped
    decoded = [o for o in verdict.outcomes if not o.refused and not o.not_applicable]
    if verdict.outcomes[0].refused:  # a session without this syntax's handlers
        assert "MissingHandlerError" in verdict.outcomes[0].refused
        return
    # every road but combine_slices (which needs a slice's geometry) decodes these files
    assert {o.road for o in decoded} >= set(ROADS) - {"combine_slices"}, \
        [o.summary() for o in verdict.outcomes]


def _edited(tmp_path: Path, name: str, edit) -> Path:
    ds = pydicom.dcmread(sorted((TEST_DATA / "series").glob("A_0*.dcm"))[0])
    edit(ds)
    path = tmp_path / f"{name}.dcm"
    ds.save_as(path)
    return path


def _frames_abc(ds: pydicom.Dataset) -> None:
    ds.add_new(0x00280008, "LO", "abc")


@pytest.mark.parametrize(("name", "edit"), [
    ("bits_allocated_0", lambda ds: setattr(ds, "BitsAllocated", 0)),
    ("samples_per_pixel_0", lambda ds: setattr(ds, "SamplesPerPixel", 0)),
    ("frames_abc", _frames_abc),
])
def test_refused_header_values_are_refused_on_every_road(tmp_path: Path, name: str,
                                                         edit) -> None:
    """The scan used to fill these with defaults (``or 16``) the guard never saw: load,
    SliceDataset and convert decoded what decode_file refused."""
    path = _edited(tmp_path, name, edit)
    verdict = check(path)
    assert not verdict.disagree and not verdict.untyped, verdict.disagree or verdict.untyped
    assert all(o.refused for o in verdict.outcomes), [o.summary() for o in verdict.outcomes]


def test_unknown_vr_outside_the_pixel_description_is_read_on_every_road(tmp_path: Path
                                                                        ) -> None:
    """An undefined VR on Instance Number: the scan gave up on the file while decode_file
    (which never reads it) decoded it; now the element is read as UN on every road."""
    source = sorted((TEST_DATA / "series").glob("A_0*.dcm"))[0]
    data = bytearray(source.read_bytes())
    at = data.find(b"\x20\x00\x13\x00IS")
    assert at > 0
    data[at + 4:at + 6] = b"ZQ"
    path = tmp_path / "unknown_vr.dcm"
    path.write_bytes(bytes(data))
    verdict = check(path)
    assert not verdict.disagree and not verdict.untyped, verdict.disagree or verdict.untyped
    assert not any(o.refused for o in verdict.outcomes), [o.summary() for o in verdict.outcomes]


def test_consistent_bomb_is_refused_on_every_road(tmp_path: Path) -> None:
    path = _consistent_bomb(TEST_DATA / "u8_mono__jpeg_baseline.dcm", tmp_path / "bomb.dcm")
    verdict = check(path)
    assert not verdict.disagree and not verdict.untyped
    assert all(o.refused or o.not_applicable for o in verdict.outcomes)


def test_fuzz_agree_class_on_mutants() -> None:
    """The harness's 'agree' api over 40 mutants of test_data: no 'disagree' (nor any
    other bad class); a mutant that aborts a codec costs its worker process, not us."""
    seeds = SeedSet(FILES, ROOT)
    results = run(seeds, list(range(40)), 2026, ["agree"], every=1, workers=2,
                  timeout=20.0, progress=False)
    assert len(results) == 40
    bad = [(r["id"], r["kind"], r["class"], r["detail"][:300]) for r in results
           if r["class"] not in ("ok", "typed")]
    assert not bad, bad


def test_partly_decodable_file_agrees_as_partial(corpus: Path) -> None:
    """A SEG whose frames make two volumes, one of them corrupt (fuzz/regressions, a
    mutant of pydicom-data's liver_rle.dcm): the volume roads give the same surviving
    frames and say the rest failed, the file roads refuse; that is agreement, and the
    surviving frames are frames 0 and 1 of the same SEG stored uncompressed (liver.dcm)
    as pydicom decodes them."""
    from fuzz.differential import _digests

    path = ROOT / "fuzz" / "regressions" / "mutant_003726_seg_one_volume_corrupt_rle.dcm"
    verdict = check(path)
    assert not verdict.disagree and not verdict.untyped, verdict.disagree or verdict.untyped
    by_road = {o.road: o for o in verdict.outcomes}
    assert by_road["decode_file"].refused and by_road["slice_dataset"].refused
    load, convert = by_road["load"], by_road["convert_npy"]
    assert load.partial and convert.partial and load.frames == convert.frames
    original = pydicom.dcmread(corpus / "pydicom-data/data_store/data/liver.dcm").pixel_array
    assert load.frames == _digests(original[:2])
