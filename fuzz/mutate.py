"""Deterministic mutants of real DICOM files, one small named function per attack.

Every mutant is derived from a real seed file, never hand-written from bytes: a fuzzer
that invents files mostly exercises the "not DICOM" path, while a real file with one
hostile value reaches the decoder paths a corrupt or malicious file would reach.

Header edits go through pydicom, so the file stays well-formed except for the hostile
value; byte-stream attacks (flips, truncation, length fields, offset tables, codestream
headers) patch the seed's bytes at offsets located by parsing it.

Determinism: mutant ``i`` of run seed ``s`` draws everything from
``random.Random(f"{s}:{i}")``, so one mutant can be rebuilt alone (``mutant_at``) and the
same (seed files, seed) always gives the same bytes.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import os
import random
import struct
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.encaps import encapsulate
from pydicom.filereader import data_element_generator
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import Tag

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO_ROOT.parent / "shared" / "corpus"
CORPUS_SAMPLE = 130
CORPUS_MAX_BYTES = 8_000_000

# Explicit VR whose length field is 4 bytes (after 2 reserved bytes).
LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
PIXEL_DATA = 0x7FE00010
ITEM = b"\xfe\xff\x00\xe0"
SEQ_DELIM = b"\xfe\xff\xdd\xe0"

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
RLE = "1.2.840.10008.1.2.5"
JXL_UIDS = ["1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.111", "1.2.840.10008.1.2.4.112"]
NATIVE_UIDS = [EXPLICIT_LE, IMPLICIT_LE, EXPLICIT_BE]
CODEC_UIDS = [
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203", RLE,
    *JXL_UIDS,
]
ODD_UIDS = ["1.2.3.4.5.6.7.8.9.10", "1.2.840.10008.1.2.4.100", DEFLATED, ""]
JPEG_SOF = {m for m in range(0xC0, 0xD0) if m not in (0xC4, 0xC8, 0xCC)} | {0xF7}


@dataclass
class Mutant:
    """One hostile input: ``data`` is the file, the rest says how to rebuild and read it."""

    id: str
    seed_file: str  # relative to the repo root
    kind: str
    description: str
    data: bytes = field(repr=False)


@dataclass
class Seed:
    """A seed file and the byte offsets the byte-stream attacks need (parsed once)."""

    path: Path
    label: str
    data: bytes
    ts: str = ""
    meta_end: int = 0  # first byte after the file meta group (0 without a Part 10 header)
    implicit: bool = False
    little: bool = True
    # (tag, length-field offset, length-field size, length) of every element we can patch
    lengths: list[tuple[int, int, int, int]] = field(default_factory=list)
    pix_tag: int | None = None  # offset of the Pixel Data tag
    pix_value: int | None = None  # offset of its value
    encapsulated: bool = False
    items: list[tuple[int, int]] = field(default_factory=list)  # (header offset, length)
    frames: int = 1

    @property
    def deflated(self) -> bool:
        return self.ts == DEFLATED

    @property
    def fragments(self) -> list[tuple[int, int]]:
        """Items after the Basic Offset Table."""
        return self.items[1:]


# --- seed discovery -------------------------------------------------------------------

def corpus_sample(corpus: Path = CORPUS_DIR, n: int = CORPUS_SAMPLE) -> list[Path]:
    """A fixed, transfer-syntax-stratified sample of the shared corpus (empty without it).

    Round-robin over transfer syntaxes so the rare codecs are all in and explicit-LE files
    (most of the corpus) only fill the rest; Random(0) so the sample never changes with the
    fuzz seed, which keeps mutant ids comparable across runs.
    """
    manifest = corpus / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    groups: dict[str, list[Path]] = {}
    with manifest.open(newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            rel = row.get("relative_path") or ""
            p = corpus / rel
            try:
                if not rel or not p.is_file() or p.stat().st_size > CORPUS_MAX_BYTES:
                    continue
            except OSError:
                continue
            groups.setdefault(row.get("transfer_syntax_uid") or "", []).append(p)
    rng = random.Random(0)
    for key in sorted(groups):
        groups[key].sort()
        rng.shuffle(groups[key])
    picked: list[Path] = []
    while len(picked) < n and any(groups.values()):
        for key in sorted(groups):
            if groups[key] and len(picked) < n:
                picked.append(groups[key].pop())
    return sorted(picked)


def default_seed_files(root: Path = REPO_ROOT) -> list[Path]:
    """test_data/*.dcm, test_data/series/**/*.dcm and the corpus sample, in a fixed order."""
    files = sorted((root / "test_data").glob("*.dcm"))
    files += sorted((root / "test_data" / "series").glob("**/*.dcm"))
    return files + corpus_sample(root.parent / "shared" / "corpus")


def _u(data: bytes, off: int, size: int, little: bool = True) -> int:
    return int.from_bytes(data[off:off + size], "little" if little else "big")


def _parse_meta(data: bytes) -> int:
    """End offset of the (always explicit LE) file meta group, 0 without a preamble."""
    if len(data) < 132 or data[128:132] != b"DICM":
        return 0
    off = 132
    while off + 8 <= len(data) and _u(data, off, 2) == 2:
        vr = data[off + 4:off + 6].decode("latin-1")
        if vr in LONG_VRS:
            off += 12 + _u(data, off + 8, 4)
        else:
            off += 8 + _u(data, off + 6, 2)
    return off


def _meta_lengths(data: bytes, end: int) -> list[tuple[int, int, int, int]]:
    out = []
    off = 132
    while off + 8 <= end:
        tag = (_u(data, off, 2) << 16) | _u(data, off + 2, 2)
        vr = data[off + 4:off + 6].decode("latin-1")
        if vr in LONG_VRS:
            ln = _u(data, off + 8, 4)
            out.append((tag, off + 8, 4, ln))
            off += 12 + ln
        else:
            ln = _u(data, off + 6, 2)
            out.append((tag, off + 6, 2, ln))
            off += 8 + ln
    return out


def _parse_items(data: bytes, off: int) -> list[tuple[int, int]]:
    items = []
    while off + 8 <= len(data) and data[off:off + 4] == ITEM:
        ln = _u(data, off + 4, 4)
        items.append((off, ln))
        off += 8 + ln
    return items


def load_seed(path: Path, root: Path = REPO_ROOT) -> Seed:
    """Read a seed and locate its elements; anything unparseable just disables attacks."""
    data = path.read_bytes()
    seed = Seed(path=path, label=os.path.relpath(path, root), data=data)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True)
        seed.ts = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(
            ds, "file_meta") else ""
        try:
            seed.frames = max(1, int(ds.get("NumberOfFrames", 1) or 1))
        except (TypeError, ValueError):
            seed.frames = 1
    except Exception:
        return seed
    seed.meta_end = _parse_meta(data)
    if seed.meta_end:
        seed.lengths = _meta_lengths(data, seed.meta_end)
    if seed.deflated or not seed.ts:
        return seed
    seed.implicit = seed.ts == IMPLICIT_LE
    seed.little = seed.ts != EXPLICIT_BE
    fp = io.BytesIO(data)
    fp.seek(seed.meta_end)
    try:
        for el in data_element_generator(fp, seed.implicit, seed.little, defer_size=256):
            vt = el.value_tell
            if seed.implicit or el.VR in LONG_VRS:
                seed.lengths.append((int(el.tag), vt - 4, 4, el.length))
            else:
                seed.lengths.append((int(el.tag), vt - 2, 2, el.length))
            if int(el.tag) == PIXEL_DATA:
                seed.pix_value = vt
                seed.pix_tag = vt - (8 if seed.implicit or el.VR not in LONG_VRS else 12)
                seed.encapsulated = el.length == 0xFFFFFFFF
    except Exception:
        pass  # keep what was parsed; a seed with odd trailing bytes still mutates
    if seed.encapsulated and seed.pix_value is not None:
        seed.items = _parse_items(data, seed.pix_value)
        for hdr, ln in seed.items:
            seed.lengths.append((0xFFFEE000, hdr + 4, 4, ln))
    return seed


# --- helpers ---------------------------------------------------------------------------

def _dataset(seed: Seed) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(seed.data), force=True)


def _write(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def _set_raw(ds: pydicom.Dataset, keyword: str, vr: str, value: bytes) -> None:
    """Store a value as raw bytes so pydicom writes it even when it is not a valid VR value."""
    if len(value) % 2:
        value += b" "
    tag = Tag(keyword)
    implicit, little = ds.original_encoding
    ds._dict[tag] = RawDataElement(tag, vr, len(value), value, 0, bool(implicit),
                                   bool(little) if little is not None else True)


def _patch(data: bytes, off: int, size: int, value: int, little: bool = True) -> bytes:
    return data[:off] + (value % (1 << (8 * size))).to_bytes(
        size, "little" if little else "big") + data[off + size:]


def _flip(data: bytes, lo: int, hi: int, rng: random.Random) -> tuple[bytes, str]:
    buf = bytearray(data)
    n = rng.randint(1, 8)
    offs = sorted(rng.randrange(lo, hi) for _ in range(n))
    for off in offs:
        buf[off] ^= rng.randrange(1, 256)
    return bytes(buf), f"xor {n} byte(s) at {offs}"


def _frame_starts(seed: Seed) -> list[tuple[int, int]]:
    """Fragments that begin a codestream (JPEG SOI, J2K SOC/JP2, RLE header) or all."""
    starts = [(h, ln) for h, ln in seed.fragments
              if seed.data[h + 8:h + 10] in (b"\xff\xd8", b"\xff\x4f", b"\xff\x0a")
              or seed.data[h + 12:h + 16] in (b"jP  ", b"JXL ")]
    return starts or seed.fragments


# --- 1. byte flips -----------------------------------------------------------------------

def flip_header(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Flip 1-8 bytes between the preamble and Pixel Data (whole file when deflated)."""
    lo = 128 if len(seed.data) > 132 else 0
    hi = seed.pix_tag if seed.pix_tag is not None else len(seed.data)
    if hi - lo < 2:
        return None
    data, desc = _flip(seed.data, lo, hi, rng)
    return data, "header " + desc


CODESTREAM_HEAD = 96  # bytes: SOF/DHT starts, SIZ+COD+QCD, JPEG XL size header + metadata


def flip_pixels(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Flip 1-8 bytes inside the Pixel Data value; for encapsulated seeds, a third of the
    time inside the first CODESTREAM_HEAD bytes of a codestream, where the fields the
    codecs allocate and branch on sit (flips spread over the whole value rarely land
    there: a 4 KB frame's header is 2% of it)."""
    if seed.pix_value is None or len(seed.data) - seed.pix_value < 2:
        return None
    if seed.encapsulated and seed.fragments and rng.random() < 1 / 3:
        h, ln = rng.choice(_frame_starts(seed))
        if ln >= 2:
            data, desc = _flip(seed.data, h + 8, h + 8 + min(ln, CODESTREAM_HEAD), rng)
            return data, f"codestream head (item at {h}) " + desc
    data, desc = _flip(seed.data, seed.pix_value, len(seed.data), rng)
    return data, "pixels " + desc


# --- 2. truncation -----------------------------------------------------------------------

def truncate_header(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Cut the file before its Pixel Data."""
    hi = seed.pix_tag if seed.pix_tag is not None else len(seed.data)
    if hi < 2:
        return None
    cut = rng.randrange(1, hi)
    return seed.data[:cut], f"truncated at {cut} (header, pixel tag at {hi})"


def truncate_pixels(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Cut the file inside the Pixel Data value (native or encapsulated)."""
    if seed.pix_value is None or len(seed.data) - seed.pix_value < 2:
        return None
    cut = rng.randrange(seed.pix_value, len(seed.data))
    return seed.data[:cut], f"truncated at {cut} of {len(seed.data)} (pixel data)"


def truncate_item(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Cut the file in the middle of one encapsulated fragment."""
    frags = [(h, ln) for h, ln in seed.fragments if ln > 1]
    if not frags:
        return None
    k = rng.randrange(len(frags))
    hdr, ln = frags[k]
    cut = hdr + 8 + rng.randrange(1, ln)
    return seed.data[:cut], f"truncated inside fragment {k} at {cut - hdr - 8} of {ln}"


# --- 3. hostile header values ------------------------------------------------------------

def _edit_us(keyword: str, values: Sequence[int]) -> Callable[[pydicom.Dataset, random.Random],
                                                                  str]:
    def edit(ds: pydicom.Dataset, rng: random.Random) -> str:
        v = rng.choice(list(values))
        setattr(ds, keyword, v)
        return f"{keyword}={v}"
    return edit


def _edit_bits_stored(ds: pydicom.Dataset, rng: random.Random) -> str:
    ba = int(ds.get("BitsAllocated", 16) or 16)
    v = rng.choice([0, ba + 1, ba + 8, 255])
    ds.BitsStored = v
    return f"BitsStored={v} (BitsAllocated {ba})"


def _edit_high_bit(ds: pydicom.Dataset, rng: random.Random) -> str:
    bs = int(ds.get("BitsStored", 16) or 16)
    ba = int(ds.get("BitsAllocated", 16) or 16)
    v = rng.choice([bs, ba, ba + 3, 0, 255, 65535])
    ds.HighBit = v
    return f"HighBit={v} (BitsStored {bs})"


def _edit_frames(ds: pydicom.Dataset, rng: random.Random) -> str:
    v = rng.choice(["0", "-1", "abc", "1000000", "2147483647"])
    _set_raw(ds, "NumberOfFrames", "IS", v.encode())
    return f"NumberOfFrames={v!r}"


def _edit_photometric(ds: pydicom.Dataset, rng: random.Random) -> str:
    v = rng.choice(["FOO", "MONOCHROME3", "PALETTE COLOR", "YBR_FULL_422", "RGBA", ""])
    _set_raw(ds, "PhotometricInterpretation", "CS", v.encode())
    return f"PhotometricInterpretation={v!r}"


def _edit_delete(ds: pydicom.Dataset, rng: random.Random) -> str:
    kw = rng.choice(["Rows", "BitsAllocated"])
    if kw in ds:
        delattr(ds, kw)
    return f"deleted {kw}"


_GEOMETRY_VALUES = [("ImagePositionPatient", 3), ("ImageOrientationPatient", 6),
                    ("PixelSpacing", 2), ("RescaleSlope", 1), ("RescaleIntercept", 1)]


def _edit_unusable_number(ds: pydicom.Dataset, rng: random.Random) -> str:
    """A geometry or rescale value Python parses but DICOM does not allow (NaN or
    infinity: PS3.5 6.2), or an orientation whose cosines span no plane."""
    keyword, count = rng.choice(_GEOMETRY_VALUES)
    if keyword == "ImageOrientationPatient" and rng.random() < 0.5:
        values = rng.choice([["0"] * 6, ["1", "0", "0", "1", "0", "0"]])
    else:
        value = ds.get(keyword, None)
        original = ([] if value is None else [str(value)] if count == 1
                    else [str(v) for v in value])
        values = original if len(original) == count else ["1"] * count
        values[rng.randrange(count)] = rng.choice(["nan", "inf", "-inf"])
    text = "\\".join(values)
    _set_raw(ds, keyword, "DS", text.encode())
    return f"{keyword}={text!r}"


HEADER_EDITS: dict[str, Callable[[pydicom.Dataset, random.Random], str]] = {
    "rows": _edit_us("Rows", [0, 1, 65535]),
    "columns": _edit_us("Columns", [0, 1, 65535]),
    "bits_allocated": _edit_us("BitsAllocated", [0, 7, 12, 48, 128]),
    "bits_stored": _edit_bits_stored,
    "high_bit": _edit_high_bit,
    "samples_per_pixel": _edit_us("SamplesPerPixel", [0, 2, 4, 255]),
    "planar_configuration": _edit_us("PlanarConfiguration", [2]),
    "pixel_representation": _edit_us("PixelRepresentation", [2]),
    "number_of_frames": _edit_frames,
    "photometric": _edit_photometric,
    "delete": _edit_delete,
    "unusable_number": _edit_unusable_number,
}


def header_edit(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """One hostile image-pixel-module value, written by pydicom (the rest stays valid)."""
    name = rng.choice(sorted(HEADER_EDITS))
    ds = _dataset(seed)
    desc = HEADER_EDITS[name](ds, rng)
    return _write(ds), desc


# --- 4. wrong transfer syntax ----------------------------------------------------------

def wrong_ts(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Rewrite only the file meta with another syntax; the dataset bytes stay as they were."""
    if not seed.meta_end:
        return None
    if seed.encapsulated:
        choices = [u for u in CODEC_UIDS if u != seed.ts] + NATIVE_UIDS + ODD_UIDS
    else:
        choices = CODEC_UIDS + [u for u in NATIVE_UIDS if u != seed.ts] + ODD_UIDS
    uid = rng.choice(choices)
    meta = pydicom.dcmread(io.BytesIO(seed.data), stop_before_pixels=True).file_meta
    meta.TransferSyntaxUID = uid
    buf = pydicom.filebase.DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = False
    write_file_meta_info(buf, meta, enforce_standard=False)
    data = seed.data[:132] + buf.getvalue() + seed.data[seed.meta_end:]
    return data, f"TransferSyntaxUID {seed.ts} -> {uid!r}"


# --- 5. bad length fields ----------------------------------------------------------------

def bad_length(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Patch one element or item length field in the byte stream."""
    if not seed.lengths:
        return None
    tag, off, size, ln = rng.choice(seed.lengths)
    big = 0xFFFF if size == 2 else 0xFFFFFFFF
    v = rng.choice([0, ln + 1, ln - 1, ln + 0x100, big, len(seed.data) * 2, big // 2 + 1])
    v %= big + 1
    if v == ln:
        v = (ln + 1) % (big + 1)
    little = seed.little or tag >> 16 == 2 or tag == 0xFFFEE000
    return _patch(seed.data, off, size, v, little), \
        f"length of ({tag >> 16:04X},{tag & 0xFFFF:04X}) {ln} -> {v}"


# --- 6. offset tables --------------------------------------------------------------------

def _hostile_offsets(offsets: list[int], total: int, rng: random.Random,
                     huge: int) -> tuple[list[int], str]:
    out = list(offsets)
    how = rng.choice(["past_end", "huge", "non_monotonic", "first_nonzero", "all_same"])
    k = rng.randrange(len(out))
    if how == "past_end":
        out[k] = total + rng.randrange(1, 1 << 20)
    elif how == "huge":
        out[k] = huge
    elif how == "non_monotonic":
        out = out[::-1] if len(out) > 1 else [out[0] + 16]
        if len(out) > 1 and out == offsets:
            out[0] = out[-1] + 1
    elif how == "first_nonzero":
        out[0] = rng.choice([1, 8, total // 2 + 1])
    else:
        out = [out[k] + 2] * len(out)
    return out, how


def bad_offset_table(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Hostile Basic (in the byte stream) or Extended (through pydicom) Offset Table."""
    starts = _frame_starts(seed)
    if not starts:
        return None
    first = seed.items[1][0]
    correct = [h - first for h, _ in starts]
    total = seed.items[-1][0] + 8 + seed.items[-1][1] - first
    if rng.random() < 0.3:
        offs, how = _hostile_offsets(correct, total, rng, (1 << 63) + 5)
        lens = [ln for _, ln in starts]
        if rng.random() < 0.3:
            lens[rng.randrange(len(lens))] = (1 << 62)
            how += "+huge_length"
        ds = _dataset(seed)
        ds.ExtendedOffsetTable = struct.pack(f"<{len(offs)}Q", *offs)
        ds.ExtendedOffsetTableLengths = struct.pack(f"<{len(lens)}Q", *lens)
        return _write(ds), f"ExtendedOffsetTable {how}: {offs[:4]} lengths {lens[:4]}"
    bot_hdr, bot_len = seed.items[0]
    old = [_u(seed.data, bot_hdr + 8 + 4 * i, 4) for i in range(bot_len // 4)] or correct
    offs, how = _hostile_offsets(old, total, rng, 0xFFFFFFF0)
    table = struct.pack(f"<{len(offs)}I", *(o % (1 << 32) for o in offs))
    data = (seed.data[:bot_hdr] + ITEM + struct.pack("<I", len(table)) + table
            + seed.data[bot_hdr + 8 + bot_len:])
    return data, f"BasicOffsetTable {how}: {old[:4]} -> {offs[:4]}"


# --- 7. decompression bombs ----------------------------------------------------------------

def _jpeg_sof(frag: bytes) -> int | None:
    """Offset of the SOFn/SOF55 marker of a JPEG/JPEG-LS codestream, if found."""
    if frag[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(frag):
        if frag[i] != 0xFF:
            return None
        m = frag[i + 1]
        if m == 0xFF:
            i += 1
            continue
        if m in JPEG_SOF:
            return i if i + 9 <= len(frag) else None
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            i += 2
            continue
        i += 2 + _u(frag, i + 2, 2, little=False)
    return None


def _jxl_size_bits(stream: bytes) -> int:
    """Bit length of the SizeHeader after FF0A (ISO/IEC 18181-1 D.2); 0 if truncated."""
    value, pos = int.from_bytes(stream[2:18], "little"), 0

    def take(n: int) -> int:
        nonlocal pos
        pos += n
        return (value >> (pos - n)) & ((1 << n) - 1)

    def dim() -> None:
        take((9, 13, 18, 30)[take(2)])

    div8 = take(1)
    take(5) if div8 else dim()
    if take(3) == 0:
        take(5) if div8 else dim()
    return pos if pos <= 8 * len(stream[2:18]) else 0


def _jxl_size_header(side: int, residue: int) -> tuple[int, int, str] | None:
    """(bits, length, "HxW") of a SizeHeader claiming about side x side whose bit length
    is ``residue`` mod 8 where one exists (the headers end in ZeroPadToByte, so such a
    splice keeps the rest decodable), else the first one (misaligned: still a header the
    guard must refuse before libjxl allocates). div8=0; U32 selector s: a (9, 13, 18,
    30)-bit field."""
    widths = (9, 13, 18, 30)
    first: tuple[int, int, str] | None = None
    for hs in (2, 3):
        height = min(side, 1 << widths[hs])
        for ws in (None, 0, 1, 2, 3):  # None: ratio 1 (width = height), no width field
            bits = 0 | (hs << 1) | ((height - 1) << 3)
            pos = 3 + widths[hs]
            if ws is None:
                bits |= 1 << pos
                width, pos = height, pos + 3
            else:
                width = min(side, 1 << widths[ws])
                bits |= ((ws << 3) | ((width - 1) << 5)) << pos
                pos += 5 + widths[ws]
            if pos % 8 == residue:
                return bits, pos, f"{height}x{width}"
            first = first or (bits, pos, f"{height}x{width}")
    return first


def _jxl_bombed(stream: bytes, side: int) -> tuple[bytes, str] | None:
    """A bare JPEG XL codestream whose SizeHeader claims about side x side, the bits
    after it spliced on unchanged."""
    n = _jxl_size_bits(stream) if stream[:2] == b"\xff\x0a" else 0
    found = _jxl_size_header(side, n % 8) if n else None
    if found is None:
        return None
    header, length, size = found
    size += "" if (length - n) % 8 == 0 else " (misaligned)"
    rest = int.from_bytes(stream[2:], "little") >> n
    total = length + 8 * len(stream[2:]) - n
    return stream[:2] + (header | (rest << length)).to_bytes((total + 7) // 8, "little"), size


def _jxl_bomb_frame(frame: bytes, side: int) -> tuple[bytes, str] | None:
    """The bare codestream, or the jxlc/jxlp box of the container, with a bombed size."""
    if frame[:2] == b"\xff\x0a":
        return _jxl_bombed(frame, side)
    pos = 12
    while pos + 8 <= len(frame):
        box_len, box = _u(frame, pos, 4, little=False), frame[pos + 4:pos + 8]
        if box_len < 8:
            return None  # 0 (to the end) and 1 (64-bit) do not occur in our seeds
        if box in (b"jxlc", b"jxlp"):
            skip = 8 + (4 if box == b"jxlp" else 0)
            found = _jxl_bombed(frame[pos + skip:pos + box_len], side)
            if found is None:
                return None
            new, size = found
            head = (skip + len(new)).to_bytes(4, "big") + frame[pos + 4:pos + skip]
            return frame[:pos] + head + new + frame[pos + box_len:], size
        pos += box_len
    return None


def jxl_decompression_bomb(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """JPEG XL: the SizeHeader (a variable-length bit field, so the frame is rebuilt)
    claims side x side; the DICOM Rows/Columns stay as they were."""
    side = rng.choice([65535, 1 << 20, 1 << 30])
    ds = _dataset(seed)
    frames = [seed.data[h + 8:h + 8 + ln] for h, ln in seed.fragments]
    k = rng.randrange(len(frames))
    found = _jxl_bomb_frame(frames[k], side)
    if found is None:
        return None
    frames[k], size = found
    ds.PixelData = encapsulate(frames)
    # pydicom 3.0 refuses to write the JPEG XL syntaxes: a private placeholder UID of the
    # same length is written, then replaced in the bytes
    placeholder = "9" * len(seed.ts)
    ds.file_meta.TransferSyntaxUID = placeholder
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True, enforce_file_format=False)
    data = buf.getvalue().replace(placeholder.encode(), seed.ts.encode(), 1)
    return data, f"JPEG XL size header {size} in frag{k}"


def decompression_bomb(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Codestream headers claim 65535x65535; the DICOM Rows/Columns stay as they were."""
    if seed.ts in JXL_UIDS:
        return jxl_decompression_bomb(seed, rng)
    tiles = rng.random() < 0.5
    only_first = rng.random() < 0.5
    data = bytearray(seed.data)
    patched = []
    for k, (hdr, ln) in enumerate(seed.fragments):
        frag = seed.data[hdr + 8:hdr + 8 + min(ln, 1 << 16)]
        sof = _jpeg_sof(frag)
        if sof is not None:
            base = hdr + 8 + sof
            data[base + 5:base + 9] = b"\xff\xff\xff\xff"
            patched.append(f"frag{k}:SOF{frag[sof + 1]:02X}")
        else:
            p = frag.find(b"\xff\x4f\xff\x51", 0, 512)
            if p < 0 or p + 34 > len(frag):
                continue
            siz = hdr + 8 + p + 2  # the FF51 marker
            xo, yo = _u(frag, p + 2 + 14, 4, False), _u(frag, p + 2 + 18, 4, False)
            data[siz + 6:siz + 10] = (xo + 65535).to_bytes(4, "big")
            data[siz + 10:siz + 14] = (yo + 65535).to_bytes(4, "big")
            if tiles:
                data[siz + 22:siz + 30] = (65535).to_bytes(4, "big") * 2
            patched.append(f"frag{k}:SIZ{'+tiles' if tiles else ''}")
        if only_first and patched:
            break
    if not patched:
        return None
    return bytes(data), "65535x65535 in " + ",".join(patched[:4]) + (
        f" (+{len(patched) - 4})" if len(patched) > 4 else "")


# --- 8. frame-count bombs -----------------------------------------------------------------

def frame_count_bomb(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """NumberOfFrames 2^31-1 over small (or the original) pixel data: a header-only bomb."""
    ds = _dataset(seed)
    if "PixelData" not in ds:
        return None
    _set_raw(ds, "NumberOfFrames", "IS", b"2147483647")
    desc = "NumberOfFrames=2147483647"
    how = rng.choice(["as_is", "small", "small_big_frame"])
    if how != "as_is":
        if seed.encapsulated and seed.fragments:
            hdr, ln = seed.fragments[0]
            ds.PixelData = encapsulate([seed.data[hdr + 8:hdr + 8 + ln]])
        else:
            ds.PixelData = bytes(ds.PixelData)[:64]
        desc += ", pixel data cut to one fragment/64 bytes"
    if how == "small_big_frame":
        ds.Rows = ds.Columns = 65535
        desc += ", Rows=Columns=65535"
    return _write(ds), desc


# --- 9. RLE headers -----------------------------------------------------------------------

def rle_header(seed: Seed, rng: random.Random) -> tuple[bytes, str] | None:
    """Corrupt the segment count or offsets of one frame's 64-byte RLE header."""
    frags = [(h, ln) for h, ln in seed.fragments if ln >= 64]
    if seed.ts != RLE or not frags:
        return None
    hdr, ln = rng.choice(frags)
    base = hdr + 8
    n = _u(seed.data, base, 4)
    data = bytearray(seed.data)
    what = rng.choice(["count", "past_end", "non_monotonic", "below_header", "huge",
                       "duplicate"])
    k = rng.randint(1, max(1, min(n, 15)))
    if what == "count":
        v = rng.choice([0, 16, 255, 0xFFFFFFFF, n + 1, max(0, n - 1)])
        v = v if v != n else n + 1
        data[base:base + 4] = struct.pack("<I", v)
        return bytes(data), f"RLE segment count {n} -> {v}"
    if what == "non_monotonic" and n >= 2:
        a, b = _u(seed.data, base + 4, 4), _u(seed.data, base + 8, 4)
        data[base + 4:base + 12] = struct.pack("<II", b, a)
        return bytes(data), "RLE offsets 1,2 swapped"
    v = {"past_end": ln + rng.randrange(1, 4096), "below_header": rng.choice([0, 4, 32]),
         "huge": 0xFFFFFFFF, "duplicate": _u(seed.data, base + 4, 4) + 1,
         "non_monotonic": ln // 2 + 1}[what]
    data[base + 4 * k:base + 4 * k + 4] = struct.pack("<I", v)
    return bytes(data), f"RLE offset {k} ({what}) -> {v}"


MutateFn = Callable[[Seed, random.Random], "tuple[bytes, str] | None"]


def _any(seed: Seed) -> bool:
    return True


def _encaps(seed: Seed) -> bool:
    return seed.encapsulated and len(seed.items) > 1


# (kind, applies to seed, mutate); kinds are drawn uniformly, then a seed that fits.
KINDS: list[tuple[str, Callable[[Seed], bool], MutateFn]] = [
    ("flip_header", _any, flip_header),
    ("flip_pixels", lambda s: s.pix_value is not None, flip_pixels),
    ("truncate_header", _any, truncate_header),
    ("truncate_pixels", lambda s: s.pix_value is not None, truncate_pixels),
    ("truncate_item", _encaps, truncate_item),
    ("header_edit", lambda s: bool(s.ts), header_edit),
    ("wrong_ts", lambda s: s.meta_end > 0, wrong_ts),
    ("bad_length", lambda s: bool(s.lengths), bad_length),
    ("bad_offset_table", _encaps, bad_offset_table),
    ("decompression_bomb", lambda s: _encaps(s) and s.ts != RLE, decompression_bomb),
    ("frame_count_bomb", lambda s: s.pix_value is not None or s.deflated, frame_count_bomb),
    ("rle_header", lambda s: _encaps(s) and s.ts == RLE, rle_header),
]
KIND_NAMES = [k for k, _, _ in KINDS]


class SeedSet:
    """Seeds loaded once, so every mutant (and ``--only``) sees the same list."""

    def __init__(self, seed_files: Sequence[Path | str], root: Path = REPO_ROOT,
                 select: str | None = None) -> None:
        seeds = [load_seed(Path(p), root) for p in seed_files]
        self.seeds = [s for s in seeds if seed_matches(s, select)] if select else seeds
        if not self.seeds:
            raise ValueError(f"no seed file matches {select!r}")
        self.by_kind = {name: [s for s in self.seeds if ok(s)] for name, ok, _ in KINDS}


def seed_family(seed: Seed) -> str:
    """The codec family of a seed's transfer syntax (htj2k, jpegxl, rle, ...), "" if none."""
    from dicomdecode.read.transfer_syntax import lookup

    row = lookup(seed.ts)
    return row.family if row is not None else ""


def seed_matches(seed: Seed, select: str) -> bool:
    """``select`` is comma-separated terms; a seed matches one that is its codec family
    (``htj2k``, ``jpegxl``, ``jpegls``, ``rle``, ``j2k``, ``jpeg``, ``jpeg-lossless``,
    ``native``, ``deflate``), its transfer syntax UID, or a glob of its repo-relative
    path (``*jpegxl*``). Corpus seeds' names rarely say their syntax, hence the family."""
    terms = [t.strip() for t in select.split(",") if t.strip()]
    family = seed_family(seed)
    return any(t in (family, seed.ts) or fnmatch.fnmatch(seed.label, t) for t in terms)


def mutant_at(seeds: SeedSet, seed: int, index: int, kind: str | None = None) -> Mutant:
    """Mutant ``index`` of run ``seed``: a pure function of (seed files, seed, index)."""
    rng = random.Random(f"{seed}:{index}")
    for _ in range(50):
        name, _, fn = KINDS[KIND_NAMES.index(kind)] if kind else rng.choice(KINDS)
        candidates = seeds.by_kind[name]
        if not candidates:
            continue
        s = rng.choice(candidates)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pydicom's complaints about the seeds
                out = fn(s, rng)
        except Exception:  # a seed pydicom cannot rewrite: draw again, deterministically
            out = None
        if out is not None and out[0] != s.data:
            return Mutant(f"{index:06d}", s.label, name, out[1], out[0])
    raise RuntimeError(f"no mutant for index {index} (kind {kind})")


def mutants(seed_files: Sequence[Path | str] | SeedSet, count: int, seed: int,
            start: int = 0) -> Iterator[Mutant]:
    """``count`` mutants of ``seed_files``; the same arguments always give the same bytes."""
    seeds = seed_files if isinstance(seed_files, SeedSet) else SeedSet(seed_files)
    for i in range(start, start + count):
        yield mutant_at(seeds, seed, i)
