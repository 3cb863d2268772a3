"""Decompression bombs whose DICOM header and codestream header AGREE on a huge size.

The guard already refuses a codestream that disagrees with Rows/Columns; these files are
consistent and only the compressed size gives them away (issue 20: 318..1,500-byte
baseline JPEGs declaring 65535 x 65535 passed the guard, and numpy then raised a bare
MemoryError). Every entry point must refuse them with a typed error naming the file,
before anything is allocated, whatever the memory budget. And a process with less
address space than the budget assumes gets a ResourceLimitError, not a MemoryError.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

import dicomdecode
from dicomdecode.decode import validate
from dicomdecode.errors import DecodeError, ResourceLimitError
from dicomdecode.read.codestream import codestream_info
from dicomdecode.read.transfer_syntax import lookup

from .conftest import ROOT, TEST_DATA

_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}


def _sof_at(frame: bytes) -> int:
    """Offset of the frame header marker (FFCx / FFF7) in a JPEG or JPEG-LS codestream."""
    pos = 2
    while pos + 4 <= len(frame):
        assert frame[pos] == 0xFF
        marker = frame[pos + 1]
        if marker in _SOF:
            return pos
        pos += 2 + int.from_bytes(frame[pos + 2:pos + 4], "big")
    raise AssertionError("no SOF")


def _consistent_bomb(seed: Path, out: Path, side: int = 65535) -> Path:
    """`seed`'s first frame with SOF Y and X set to `side`, and Rows/Columns too."""
    ds = pydicom.dcmread(seed)
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    sof = _sof_at(bytes(frame))
    frame[sof + 5:sof + 9] = side.to_bytes(2, "big") * 2
    ds.PixelData = encapsulate([bytes(frame)])
    ds.Rows = ds.Columns = side
    ds.NumberOfFrames = 1
    ds.save_as(out)
    return out


BOMB_SEEDS = ["u8_mono__jpeg_baseline.dcm", "rgb8__jpeg_baseline.dcm",
              "rgb8__jpeg_extended.dcm", "u16_bs16_mono__jpeg_lossless.dcm",
              "u16_bs12_mono__jpeg_lossless_sv1.dcm", "u16_bs16_mono__jpegls_lossless.dcm",
              "u16_bs12_mono__jpegls_near.dcm", "rgb8__jpegls_lossless.dcm"]


@pytest.mark.parametrize("seed", BOMB_SEEDS)
def test_consistent_bomb_is_refused_on_every_road(seed: str, tmp_path: Path) -> None:
    bomb = _consistent_bomb(TEST_DATA / seed, tmp_path / "bomb.dcm")
    assert bomb.stat().st_size < 200_000
    huge = dicomdecode.Options(max_bytes=1 << 50)  # the budget would let it through
    with pytest.raises(DecodeError, match="implausible") as info:
        dicomdecode.decode_file(bomb, options=huge)
    assert info.value.path == str(bomb)
    with pytest.raises(DecodeError, match="implausible"):
        dicomdecode.decode(bomb.read_bytes(), options=huge)
    with pytest.warns(UserWarning, match="implausible"):
        assert dicomdecode.load([bomb], max_bytes=1 << 50) == []


def _frames(path: Path) -> list[bytes]:
    ds = pydicom.dcmread(path)
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=n))


def test_bound_holds_with_room_on_every_test_data_codestream() -> None:
    """The bound is a floor no real codestream comes near: every JPEG / JPEG-LS frame of
    test_data is at least 4 times longer than the fewest bytes its size allows (the
    smallest margin is asserted so a bound made stricter by mistake shows here first)."""
    margins = []
    for path in sorted(TEST_DATA.glob("*.dcm")):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        row = lookup(ds.file_meta.TransferSyntaxUID)
        if row is None or row.family not in ("jpeg", "jpeg-lossless", "jpegls"):
            continue
        for frame in _frames(path):
            info = codestream_info(row.family, frame)
            assert info is not None
            bits = validate.minimum_compressed_bits(info.marker, ds.Rows, ds.Columns,
                                                    ds.SamplesPerPixel)
            if bits:
                margins.append((len(frame) * 8 / bits, path.name))
    assert len(margins) > 20
    assert min(margins)[0] > 4, min(margins)


@pytest.mark.parametrize(("marker", "rows", "columns", "components", "bits"), [
    (0xFFC0, 512, 512, 1, 64 * 64),          # 1 bit per 8x8 block
    (0xFFC1, 65535, 65535, 1, 8192 ** 2),    # partial blocks count as blocks
    (0xFFC2, 512, 512, 3, 3 * 64 * 64 // 16),  # components may be subsampled 4x4
    (0xFFC3, 100, 100, 1, 10_000),           # 1 bit per sample
    (0xFFF7, 65535, 65535, 1, 65535),        # 1 bit per line
    (0xFFC9, 65535, 65535, 1, 0),            # arithmetic coding: no bound (budget)
    (0xFF51, 65535, 65535, 1, 0),            # J2K: budget
])
def test_minimum_compressed_bits(marker: int, rows: int, columns: int, components: int,
                                 bits: int) -> None:
    assert validate.minimum_compressed_bits(marker, rows, columns, components) == bits


def test_a_legitimately_tiny_frame_passes() -> None:
    """A 64x64 baseline frame of 64 blocks needs 8 bytes: 9 pass, 7 do not."""

    class Px:
        path, rows, columns, samples_per_pixel = "x.dcm", 64, 64, 1

    validate.check_compressed_size(Px(), 0xFFC0, 9)  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match="at least 8 bytes"):
        validate.check_compressed_size(Px(), 0xFFC0, 7)  # type: ignore[arg-type]
    assert math.ceil(64 / 8) == 8


_LIMITED = textwrap.dedent("""
    import resource, sys
    sys.path.insert(0, {root!r})
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    import numpy as np
    import dicomdecode
    from dicomdecode.engine.allocator import allocate
    from dicomdecode.errors import ResourceLimitError
    from dicomdecode.decode import validate
    for shared in (False, True):
        try:
            allocate((3 << 30,), np.uint8, "huge.dcm", shared=shared)
        except ResourceLimitError as exc:
            print("allocate:", shared, exc.path, exc.needed)
    print("budget:", validate.memory_budget() <= {limit} // 2)
    for max_bytes in (None, 1 << 50):
        try:
            dicomdecode.decode_file({path!r}, options=dicomdecode.Options(max_bytes=max_bytes))
        except ResourceLimitError as exc:
            print("decode:", max_bytes, exc.path, exc.needed, "allocate" in str(exc))
""")


def _j2k_bomb(out: Path, side: int = 65535) -> Path:
    """A consistent J2K bomb: SIZ and Rows/Columns both say `side` x `side` (J2K's
    compression ratio is unbounded, so only the budget and the allocation stand)."""
    ds = pydicom.dcmread(TEST_DATA / "u8_mono__j2k_lossless.dcm")
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    siz = frame.find(b"\xff\x4f\xff\x51") + 2
    assert frame[siz + 14:siz + 22] == bytes(8)  # no image offset
    frame[siz + 6:siz + 14] = side.to_bytes(4, "big") * 2
    ds.PixelData = encapsulate([bytes(frame)])
    ds.Rows = ds.Columns = side
    ds.save_as(out)
    return out


def test_an_allocation_the_os_refuses_is_typed(tmp_path: Path) -> None:
    """Under a 2 GiB address-space limit (a fuzz worker, a container), the default budget
    follows the limit, so a 4 GiB J2K bomb is refused before allocation; with the budget
    raised past it, the allocation the OS refuses is a ResourceLimitError naming the file
    and the size, never a bare MemoryError."""
    bomb = _j2k_bomb(tmp_path / "j2k_bomb.dcm")
    script = _LIMITED.format(root=str(ROOT), limit=2 << 30, path=str(bomb))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert f"allocate: False huge.dcm {3 << 30}" in lines
    assert f"allocate: True huge.dcm {3 << 30}" in lines
    assert "budget: True" in lines
    assert f"decode: None {bomb} {65535 ** 2} False" in lines  # the budget refused it
    assert f"decode: {1 << 50} {bomb} {65535 ** 2} True" in lines  # the allocation did


def test_resource_limit_error_is_what_allocate_raises() -> None:
    from dicomdecode.engine.allocator import allocate

    with pytest.raises(ResourceLimitError, match="could not allocate") as info:
        allocate((1 << 62, 1 << 4), "uint8", "x.dcm")  # beyond any address space
    assert info.value.path == "x.dcm" and info.value.needed == 1 << 66
