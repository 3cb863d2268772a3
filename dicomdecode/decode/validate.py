"""The guard: header, size, codestream and memory checks that run BEFORE any codec.

Hostile or broken DICOM must cost one file, never the process. The codecs we call trust
their input more than we can afford to: GDCM, CharLS, OpenJPEG and libjpeg allocate the
output from the *codestream* header (a 65535x65535 SOF inside a 512x512 file asks for
gigabytes), some abort() on inconsistent parameters, and the RLE and native paths index
into buffers whose size comes from the *DICOM* header. Every function here looks only at
header values and a bounded prefix of the data, allocates nothing proportional to the
claimed image size, and raises a typed error (``DecodeError`` / ``ResourceLimitError``)
that states both the value found and the value expected.

The byte-level reading of codestream headers lives in :mod:`dicomdecode.read.codestream`;
this module holds the policy: what must agree with what.

Decisions (documented here because callers rely on them):

* Samples per Pixel 4 is accepted only with the retired ARGB and CMYK Photometric
  Interpretations, the only ones the standard ever defined with four samples.
* High Bit is not part of :class:`PixelHeader` and is tolerated whatever its value:
  decoders use Bits Stored, and real files with High Bit != Bits Stored - 1 decode fine.
* Planar Configuration is checked only when Samples per Pixel > 1 (the standard says it
  is absent / meaningless otherwise, and files with junk there decode fine).
* Native Pixel Data must hold at least the expected length; trailing bytes shorter than
  one frame are ignored (the even-length pad, and writers' padding as in pydicom's
  MR_small_padded.dcm); a frame or more of extra data is refused, because it means Rows,
  Columns, Frames or Bits disagree with the data (Rows edited to 1 in a 512-row file).
* Native YBR_FULL_422 / YBR_PARTIAL_422 store two samples per pixel on average (PS3.3
  C.7.6.3.1.2): Columns must be even and the frame is Rows*Columns*2 samples.
* Fragments, offset tables and Number of Frames against the items are judged where
  frames are split (:func:`dicomdecode.read.frames.split_frames`), for every road.
* Codestream precision is checked against Bits Allocated (it may exceed Bits Stored:
  encoders often write 16-bit codestreams for 12-bit data), and against what the coding
  process allows (baseline 8; extended/progressive 8 or 12; lossless and JPEG-LS 2..16).
* JPEG SOF Y = 0 (height from a later DNL marker) is "rows unknown", not an error; in
  JPEG-LS Y or X = 0 needs an oversize-dimension LSE that no DICOM image (<= 65535)
  needs, so it is compared as 0 and refused.
* Bits Allocated 1 is monochrome only (Samples per Pixel 1); with float pixels Bits
  Allocated must equal the float size and Bits Stored is not checked (not in those IODs).
* An RLE header's count of segments must be Samples per Pixel * ceil(Bits Allocated/8);
  offsets beyond the count are ignored (encoders leave junk there).
"""

from __future__ import annotations

import math
import operator
import os
import time
from collections.abc import Sequence

from dicomdecode.errors import DecodeError, ResourceLimitError
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.codestream import (
    FAMILIES,
    JXL_MARKER,
    CodestreamInfo,
    codestream_info,
    rle_segment_offsets,
)
from dicomdecode.read.pixel_source import (
    SUBSAMPLED_422,
    PixelHeader,
    frame_nbytes,
    max_frames,
    native_nbytes,
)

__all__ = [
    "PixelHeader",
    "CodestreamInfo",
    "FAMILIES",
    "PHOTOMETRIC_SAMPLES",
    "check_header",
    "frame_nbytes",
    "native_nbytes",
    "decoded_nbytes",
    "check_native_size",
    "codestream_info",
    "check_rle_header",
    "check_codestream",
    "check_compressed_size",
    "minimum_compressed_bits",
    "memory_budget",
    "check_budget",
]


#: Photometric Interpretation -> the Samples per Pixel it requires (PS3.3 C.7.6.3.1.2,
#: retired HSV/ARGB/CMYK included).
PHOTOMETRIC_SAMPLES: dict[str, int] = {
    "MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1,
    "RGB": 3, "YBR_FULL": 3, "YBR_FULL_422": 3, "YBR_PARTIAL_422": 3,
    "YBR_PARTIAL_420": 3, "YBR_ICT": 3, "YBR_RCT": 3, "XYB": 3, "HSV": 3,
    "ARGB": 4, "CMYK": 4,
}

_NATIVE_SYNTAXES = ts.PLAIN_NATIVE | {
    ts.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,  # deflated: inflates to native
    ts.ENCAPSULATED_UNCOMPRESSED,  # encapsulated uncompressed: each frame is native
}
_MARKER_DELIMITED = frozenset({"jpeg", "jpeg-lossless", "jpegls", "j2k", "htj2k"})
# families whose frames must start with their own signature (the codec is refused otherwise)
_SIGNED_STREAMS = _MARKER_DELIMITED | {"jpegxl"}
_MIB = 1 << 20
_DEFAULT_BUDGET = 4 << 30
ENV_MAX_BYTES = "DICOMDECODE_MAX_BYTES"  # named in messages; read by dicomdecode.options


# --------------------------------------------------------------------------- header


def _fail(px: PixelHeader, message: str) -> DecodeError:
    return DecodeError(message, px.path)


def _as_int(value: object) -> int | None:
    """An integer-like value (int, numpy integer, pydicom IS) as int, else None."""
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def _check_range(px: PixelHeader, name: str, value: object, low: int, high: int) -> None:
    number = _as_int(value)
    if number is None or not low <= number <= high:
        raise _fail(px, f"{name} is {_show(value)}, must be {low}..{high}")


def _show(value: object) -> str:
    """A header value for a message: integers plainly (numpy's repr is noisy)."""
    number = _as_int(value)
    return repr(value) if number is None else str(number)


def check_header(px: PixelHeader) -> None:
    """Header values must describe an image the codecs and our own reshape can handle.

    Without this, Rows=0 or Columns=0 makes numpy reshape fail late (or GDCM return an
    empty buffer), Bits Allocated 12 makes every size computation wrong, Bits Stored 0
    makes shifts undefined, and a Samples per Pixel that disagrees with the Photometric
    Interpretation sends a colour conversion off the end of the buffer.
    """
    _check_range(px, "Rows", px.rows, 1, 65535)
    _check_range(px, "Columns", px.columns, 1, 65535)
    _check_photometric(px)
    _check_bits(px)
    _check_range(px, "Pixel Representation", px.pixel_representation, 0, 1)
    if px.samples_per_pixel > 1:
        _check_range(px, "Planar Configuration", px.planar_configuration, 0, 1)
    frames = _as_int(px.number_of_frames)
    if frames is None or frames < 1:
        raise _fail(px, f"Number of Frames is {_show(px.number_of_frames)}, must be >= 1")


def _check_photometric(px: PixelHeader) -> None:
    """Samples per Pixel must be what the Photometric Interpretation implies (monochrome
    and palette 1, colour 3, retired ARGB/CMYK 4): the colour conversions index by it."""
    samples = _as_int(px.samples_per_pixel)
    if samples not in (1, 3, 4):
        raise _fail(px, f"Samples per Pixel is {_show(px.samples_per_pixel)}, must be 1 or 3 "
                        "(4 only for retired ARGB/CMYK)")
    pi = (px.photometric_interpretation or "").strip().upper()
    wanted = PHOTOMETRIC_SAMPLES.get(pi)
    if wanted is None:
        raise _fail(px, f"Photometric Interpretation {px.photometric_interpretation!r} "
                        "is not one the standard defines")
    if wanted != samples:
        raise _fail(px, f"Samples per Pixel is {samples}, Photometric Interpretation "
                        f"{pi} requires {wanted}")
    if (pi in SUBSAMPLED_422 and px.transfer_syntax in _NATIVE_SYNTAXES
            and px.columns % 2):
        raise _fail(px, f"Columns is {px.columns}, native {pi} needs an even number")


def _check_bits(px: PixelHeader) -> None:
    """Bits Allocated sets every byte count; Bits Stored every shift and mask."""
    allocated, stored, fp = px.bits_allocated, px.bits_stored, px.float_pixels
    if fp not in (0, 32, 64):
        raise _fail(px, f"float pixel size is {_show(fp)}, must be 0, 32 or 64")
    if fp and allocated != fp:
        raise _fail(px, f"Bits Allocated is {allocated}, {fp}-bit float pixels need {fp}")
    if _as_int(allocated) not in (1, 8, 16, 32, 64):
        raise _fail(px, f"Bits Allocated is {_show(allocated)}, must be 1, 8, 16, 32 or 64")
    if allocated == 1 and px.samples_per_pixel != 1:
        raise _fail(px, f"Bits Allocated is 1 with Samples per Pixel "
                        f"{px.samples_per_pixel}: 1-bit data is monochrome only")
    if not fp and not 1 <= (_as_int(stored) or 0) <= allocated:
        raise _fail(px, f"Bits Stored is {_show(stored)}, must be 1..{allocated} "
                        f"(Bits Allocated {allocated})")


# --------------------------------------------------------------------------- sizes


def decoded_nbytes(px: PixelHeader) -> int:
    """Bytes of the decoded array for all frames (1-bit unpacked to one byte a pixel,
    4:2:2 upsampled to full samples): what :func:`check_budget` should be given."""
    itemsize = 1 if px.bits_allocated == 1 else px.bits_allocated // 8
    return (px.rows * px.columns * px.samples_per_pixel * px.number_of_frames * itemsize)


def check_data(px: PixelHeader, frames: Sequence[bytes], native: bytes | None,
               indices: Sequence[int]) -> None:
    """The guard on the data itself, before any codec or allocation sees it: the native
    length (whole value), else each requested encoded frame's codestream header against
    the DICOM header. `indices` may be a range: nothing is built from the header count
    before the native length has been checked against it."""
    row = ts.lookup(px.transfer_syntax)
    family = row.family if row is not None else ""
    if native is not None:
        # deflated too: its value is native once inflated, and without this a header
        # claiming a million frames was allocated for (7.6 GiB within a 11 GiB budget,
        # fuzz seed 303) before the decoder found 8 KB of pixels
        if family in ("native", "deflate"):
            check_native_size(px, len(native))
        return
    if family in FAMILIES and family not in ("native", "deflate"):
        for index in indices:
            check_codestream(px, family, frames[index])


def check_frame_capacity(px: PixelHeader, file_size: int, pixel_offset: int) -> None:
    """Number of Frames must fit in the file before anything is sized by it: a 7 KB file
    claiming a million frames is refused here, not after a 2 GB allocation."""
    limit = max_frames(file_size, pixel_offset, px.transfer_syntax, frame_nbytes(px))
    if px.number_of_frames > max(limit, 1):
        raise _fail(px, f"Number of Frames is {px.number_of_frames}, but the {file_size}-byte "
                        f"file can hold at most {limit} frame(s) of {_describe_frame(px)}")


def _describe_frame(px: PixelHeader) -> str:
    return f"{px.rows}x{px.columns}x{px.samples_per_pixel} at {px.bits_allocated} bits"


def check_native_size(px: PixelHeader, available: int) -> None:
    """The native Pixel Data length must be exactly what the header implies.

    The native reader would otherwise read past the value (a short file: garbage or an
    exception deep in numpy) or silently misinterpret it (a value a whole frame or more
    longer means Rows, Columns, Frames or Bits disagree with the data). Trailing bytes
    shorter than one frame are tolerated and ignored, as pydicom does: writers pad
    (pydicom's MR_small_padded.dcm carries 128 extra bytes).
    """
    expected = native_nbytes(px)
    if available < expected:
        raise _fail(px, f"native Pixel Data truncated: {available} bytes of {expected} "
                        f"({_describe(px)})")
    frame = max(frame_nbytes(px), 2)
    if available - expected >= frame:
        raise _fail(px, f"native Pixel Data is {available} bytes, header implies "
                        f"{expected} ({_describe(px)}): a frame or more of data the header "
                        "does not describe")


def _describe(px: PixelHeader) -> str:
    return (f"{px.number_of_frames} frame(s) of {px.rows}x{px.columns}x"
            f"{px.samples_per_pixel} at {px.bits_allocated} bits")


# --------------------------------------------------------------------------- fragments
# Fragments, offset tables and frame counts are judged where frames are split, in ONE
# place (:func:`dicomdecode.read.frames.split_frames`): every road (decode, load, the
# datasets, convert) gets its frames, and its refusals, from there.


def check_rle_header(px: PixelHeader, frame: bytes) -> None:
    """The 64-byte RLE header must match the image: one segment per byte of each sample,
    first segment at 64, offsets increasing and inside the frame, and each segment long
    enough to decode Rows*Columns bytes (a 2-byte run packet yields at most 128).

    RLE decoders write segment i into byte plane i of a buffer sized from the DICOM
    header; a segment count or offset the header does not expect writes or reads out of
    bounds (or decodes garbage in the wrong plane).
    """
    try:
        count, offsets = rle_segment_offsets(frame)
    except DecodeError as exc:
        raise _fail(px, exc.reason) from None
    expected = px.samples_per_pixel * math.ceil(px.bits_allocated / 8)
    if count != expected:
        raise _fail(px, f"RLE header has {count} segments, header implies {expected} "
                        f"({px.samples_per_pixel} samples x {px.bits_allocated} bits)")
    if not 1 <= count <= 15:
        raise _fail(px, f"RLE needs {count} segments, the format holds 1..15")
    if offsets[0] != 64:
        raise _fail(px, f"RLE first segment offset is {offsets[0]}, must be 64")
    plane = px.rows * px.columns
    if px.bits_allocated == 1:
        plane = math.ceil(plane / 8)  # 1-bit frames are RLE-coded as packed bytes
    minimum = 2 * math.ceil(plane / 128)
    ends = (*offsets[1:], len(frame))
    for index, (start, end) in enumerate(zip(offsets, ends, strict=True)):
        if end > len(frame) or end - start < minimum:
            raise _fail(px, f"RLE segment {index} spans bytes {start}..{end} of a "
                            f"{len(frame)}-byte frame; {px.rows}x{px.columns} needs at "
                            f"least {minimum} bytes in order")
        # PackBits never needs more than 2 bytes per byte (a literal run of one): a longer
        # segment encodes more pixels than the header describes (Rows edited down, say),
        # and decoders silently keep the first rows of it
        if end - start > 2 * plane + 2:
            raise _fail(px, f"RLE segment {index} is {end - start} bytes; {px.rows}x"
                            f"{px.columns} needs at most {2 * plane + 2}: the data holds "
                            "more pixels than the header describes")


def check_codestream(px: PixelHeader, family: str, frame: bytes) -> None:
    """The codestream header must agree with the DICOM header before a codec sees it.

    GDCM, CharLS, OpenJPEG and libjpeg allocate from the codestream header, so a 65535 x
    65535 SOF in a 512 x 512 file is a memory bomb, and a component count or precision
    beyond what Samples per Pixel / Bits Allocated reserve overruns our output buffer.
    """
    if family == "rle":
        check_rle_header(px, frame)
        return
    try:
        info = codestream_info(family, frame)
    except DecodeError as exc:
        raise _fail(px, exc.reason) from None
    if info is None:
        if family in _SIGNED_STREAMS:
            # not a codestream of this family at all (RLE data labelled JPEG, garbage):
            # codecs such as GDCM abort on it rather than report an error
            raise _fail(px, f"frame is not a {family.upper()} codestream: no start-of-image "
                            f"and frame header (SOI/SOF, SOC/SIZ, JPEG XL FF0A) at its start "
                            f"({bytes(frame[:4]).hex(' ').upper()} ...)")
        return
    name = _stream_name(info.marker)
    rows = "?" if info.rows is None else str(info.rows)
    if (info.rows is not None and info.rows != px.rows) or info.columns != px.columns:
        raise _fail(px, f"{name} says {rows}x{info.columns} (rows x columns), header says "
                        f"{px.rows}x{px.columns}")
    if info.marker == JXL_MARKER:
        return  # its components and precision are not in the size header
    if info.components != px.samples_per_pixel:
        raise _fail(px, f"{name} has {info.components} components, header says Samples "
                        f"per Pixel {px.samples_per_pixel}")
    if info.precision > px.bits_allocated:
        raise _fail(px, f"{name} precision is {info.precision} bits, header says Bits "
                        f"Allocated {px.bits_allocated} (Bits Stored {px.bits_stored})")
    _check_precision(px, name, info)
    check_compressed_size(px, info.marker, len(frame))


# Least bits a conforming codestream spends, per coding process (a lower bound on the
# compressed size, so never a reason to refuse a valid file). Sampling factors are not
# read: a component may be subsampled by up to 4 in each direction (ISO 10918-1 B.2.2,
# ISO 14495-1 C.2.2: H, V in 1..4), so a multi-component bound counts each component at
# 1/16 of the image. Hierarchical (SOF5-7, SOF13-15) and arithmetic-coded (SOF9-11)
# processes have no useful bound (the QM coder spends far below a bit on a likely
# decision) and, with J2K, HTJ2K and JPEG XL, are left to the memory budget.
_HUFFMAN_DCT = frozenset({0xFFC0, 0xFFC1, 0xFFC2})  # baseline, extended, progressive
_HUFFMAN_LOSSLESS = frozenset({0xFFC3})
_JPEG_LS = 0xFFF7


def minimum_compressed_bits(marker: int, rows: int, columns: int, components: int) -> int:
    """The fewest bits of entropy-coded data a frame of this size can have (0: no bound).

    * JPEG, Huffman DCT (ISO 10918-1 F.1.2, G.1.2): every 8x8 block of every component
      codes its DC difference with a Huffman code, and a Huffman code is at least one bit
      long (C.2: code lengths 1..16). Sequential adds an AC code (EOB) per block; the
      progressive DC scan alone is one code per block, so 1 bit per block is the bound.
    * JPEG lossless, Huffman (H.1.2): every sample codes its difference category with a
      Huffman code: at least 1 bit per sample.
    * JPEG-LS (ISO 14495-1 A.7): a regular-mode sample costs at least the 1-bit unary
      terminator of its Golomb code; run mode codes a run of at most 2^J samples with one
      bit, J <= 15 (table J in A.2.1), and a run ends at the end of a line. Every line of
      every component therefore costs at least ceil(columns / 32768) bits; counted here
      as 1 bit per line of the image (subsampled or interleaved components included).
    * RLE (PS3.5 G.3.1) is bounded per segment in :func:`check_rle_header`: a 2-byte
      replicate run gives at most 128 bytes, so a ratio of at most 64:1.
    """
    if marker in _HUFFMAN_DCT:
        blocks = math.ceil(rows / 8) * math.ceil(columns / 8)
        return blocks if components == 1 else components * blocks // 16
    if marker in _HUFFMAN_LOSSLESS:
        samples = rows * columns
        return samples if components == 1 else components * samples // 16
    if marker == _JPEG_LS:
        return rows
    return 0


def check_compressed_size(px: PixelHeader, marker: int, nbytes: int) -> None:
    """Refuse a frame too short to hold the image its header declares, BEFORE anything is
    allocated for it: a 318-byte baseline JPEG whose SOF and DICOM header both say 65535
    x 65535 asks the codec for 4 GiB, yet cannot hold the 67 million Huffman codes such
    an image needs (see :func:`minimum_compressed_bits` for the bound per process)."""
    bits = minimum_compressed_bits(marker, px.rows, px.columns, px.samples_per_pixel)
    if nbytes * 8 < bits:
        raise _fail(px, f"{_stream_name(marker)} frame is {nbytes} bytes, but a "
                        f"{px.rows}x{px.columns}x{px.samples_per_pixel} image needs at least "
                        f"{math.ceil(bits / 8)} bytes of coded data in that process: the "
                        "declared size is implausible (a decompression bomb or truncation)")


def _stream_name(marker: int) -> str:
    if marker == 0xFF51:
        return "J2K SIZ"
    if marker == JXL_MARKER:
        return "JPEG XL size header"
    if marker == 0xFFF7:
        return "JPEG-LS SOF55"
    return f"JPEG SOF{marker & 0x0F}"


def _check_precision(px: PixelHeader, name: str, info: CodestreamInfo) -> None:
    """Precisions the process allows (ISO 10918-1 B.2.2, ISO 14495-1, ISO 15444-1 A.5.1):
    libjpeg builds its sample tables from P and some builds abort on values outside."""
    marker, precision = info.marker, info.precision
    if marker == 0xFFC0:
        low, high, text = 8, 8, "8"  # baseline
    elif marker in (0xFFC3, 0xFFC7, 0xFFCB, 0xFFCF, 0xFFF7):
        low, high, text = 2, 16, "2..16"  # lossless, JPEG-LS
    elif marker == 0xFF51:
        low, high, text = 1, 38, "1..38"
    else:
        low, high, text = 8, 12, "8 or 12"  # extended, progressive, hierarchical DCT
    if not low <= precision <= high or (text == "8 or 12" and precision not in (8, 12)):
        raise _fail(px, f"{name} precision is {precision} bits, the process allows {text}")


# --------------------------------------------------------------------------- memory


def memory_budget(max_bytes: int | None = None) -> int:
    """Bytes one allocation sized by a header may take: `max_bytes`
    (:attr:`Options.max_bytes`, which also carries ``DICOMDECODE_MAX_BYTES``), else half
    the memory currently available (so one hostile header cannot push the machine into
    swap or the OOM killer, which would take the whole batch with it), else 4 GiB; and
    never more than half the process's address-space limit (``ulimit -v``, RLIMIT_AS)
    when one is set, because past it numpy cannot allocate whatever the machine has.

    What it bounds: each allocation whose size a header decides, checked before it is
    made: one file's decoded frames (``decode``), one series' stack (``load``,
    ``convert``), one item of a data-loader dataset. It is not a total for the process:
    workers of a pool each have their own, and ``load`` of many series allocates them one
    after another. An allocation that passes and then fails anyway is a
    ``ResourceLimitError`` too (:func:`dicomdecode.engine.allocator.allocate`)."""
    if max_bytes is not None:
        return max_bytes
    available = _recent_available_memory()
    budget = available // 2 if available else _DEFAULT_BUDGET
    space = _address_space_limit()
    return budget if space is None else min(budget, space // 2)


def _address_space_limit() -> int | None:
    """RLIMIT_AS (bytes) when finite, else None (and None where resource is missing)."""
    try:
        import resource
    except ImportError:  # not on Windows
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft in (resource.RLIM_INFINITY, -1) or soft <= 0 else int(soft)


_AVAILABLE_TTL = 1.0  # seconds: a data loader asks per item, the answer moves slowly
_available_seen: tuple[float, str, int | None] = (float("-inf"), "", None)


def _recent_available_memory() -> int | None:
    """:func:`_available_memory`, read again at most once a second (it costs three file
    reads, about 17 us: a sixth of a one-frame decode)."""
    global _available_seen
    now = time.monotonic()
    when, where, value = _available_seen
    if now - when > _AVAILABLE_TTL or where != CGROUP_DIR:
        value = _available_memory()
        _available_seen = (now, CGROUP_DIR, value)
    return value


def _available_memory() -> int | None:
    """MemAvailable (or free pages), capped by the cgroup v2 limit left: in a container
    /proc/meminfo shows the host, and the OOM killer acts on the cgroup."""
    host = _meminfo_available()
    room = _cgroup_room()
    if host is None:
        return room
    return host if room is None else min(host, room)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


CGROUP_DIR = "/sys/fs/cgroup"


def _cgroup_room() -> int | None:
    try:
        with open(os.path.join(CGROUP_DIR, "memory.max"), encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(CGROUP_DIR, "memory.current"), encoding="ascii") as fh:
            current = int(fh.read().strip())
        return max(int(limit) - current, 0)
    except (OSError, ValueError):
        return None


def check_budget(nbytes: int, path: str, limit: int | None = None,
                 what: str = "decoded pixels") -> None:
    """Refuse an allocation larger than the budget BEFORE making it.

    numpy.empty of a header-claimed size succeeds lazily and then the codec's writes
    fault the process into the OOM killer; a ResourceLimitError costs one file.
    """
    if limit is None:
        limit = memory_budget()
    if nbytes > limit:
        raise ResourceLimitError(
            f"{what} need {nbytes / _MIB:.1f} MiB ({nbytes} bytes), budget is "
            f"{limit / _MIB:.1f} MiB ({limit} bytes; set {ENV_MAX_BYTES} to change)",
            path, needed=nbytes, limit=limit)
