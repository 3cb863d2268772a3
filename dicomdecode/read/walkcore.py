"""The per-file hot path of reading: the walk over a header's data elements, compiled.

ONE source, two ways to run it. This file is plain Python in Cython's pure-Python mode
(the model is fontTools' cu2qu): ``setup.py`` compiles it to a C extension when a
compiler is there, and the same file runs interpreted where one is not (``COMPILED``
says which one is in use; ``dicomdecode info`` reports it). There is no second parser:
the interpreted and compiled runs are the same rules, and the tests check that they give
the same answers.

Why compiled: walking ~70 elements per file with ``struct`` was the largest single cost
of a scan (about 0.4 ms a file of interpreted bytecode). Here the walk is a C loop over
the bytes with the GIL released, so scan/load threads use every core; only the final
step, which makes Python objects of the values, holds the GIL.

Safety by construction: every read of the buffer is checked against its length before it
happens (the pointer is never indexed past ``size``); sequences and items of undefined
length are skipped by an iterative depth counter, not recursion, so a hostile nesting
costs bytes, never the C stack. A walk that runs out of bytes says how many it needs
(:data:`NEED`), so a caller holding only the first block of a file (a ranged read from a
bucket or a PACS) fetches more and walks again; nothing here reads a file.

Entry points: :func:`walk_records` (the header view: numbers only, values made on
demand by :func:`element_at` / :func:`find_record`) and :func:`walk_elements` (a dict of
every element, for the file meta and the tests).
"""

from __future__ import annotations

import threading
from array import array
from typing import Any

try:
    import cython
except ImportError:  # a runtime without Cython: the decorators are no-ops
    from dicomdecode.read import _cython_shim as cython  # type: ignore[no-redef]

from dicomdecode.read.elements import (
    ITEM,
    ITEM_END,
    KNOWN_VRS,
    LONG_VRS,
    SEQUENCE_END,
    UNDEFINED_LENGTH,
)

#: True when this module is the compiled extension, False when it runs interpreted
COMPILED: bool = cython.compiled
INTERPRETED_NOTE = ("dicomdecode's compiled core is not built (no C compiler when it was "
                    "installed?): reading headers interpreted, slower, same results; "
                    "reinstall with a compiler for full speed")
if not COMPILED and __name__ == "dicomdecode.read.walkcore":
    import warnings

    warnings.warn(INTERPRETED_NOTE, RuntimeWarning, stacklevel=2)  # once: on first import

# walk_elements() statuses
PIXEL = 0  #: stopped at a pixel data element: (pos: its offset, a: value length, b: tag)
NEED = 1  #: the buffer ends inside an element: (pos: resume here, a: bytes needed in all)
BAD = 2  #: not a VR the standard defines, or a malformed sequence, at or after pos
META_END = 3  #: meta_only: the first element of another group than 0002 starts at pos

# The same numbers as C constants for the nogil loops (compiled, a module global is a
# Python object, which code without the GIL may not touch).
_PIXEL = cython.declare(cython.longlong, 0)
_NEED = cython.declare(cython.longlong, 1)
_BAD = cython.declare(cython.longlong, 2)
_META_END = cython.declare(cython.longlong, 3)
_FULL = cython.declare(cython.longlong, 4)  # the record table is full: call again from pos
_CAPACITY = cython.declare(cython.Py_ssize_t, 256)  # element records per nogil pass
_HEAD = cython.declare(cython.Py_ssize_t, 4)  # out[0:4]: status, pos, a, b; 4 per record
_ITEM = cython.declare(cython.longlong, ITEM)
_ITEM_END = cython.declare(cython.longlong, ITEM_END)
_SEQ_END = cython.declare(cython.longlong, SEQUENCE_END)
_UNDEFINED = cython.declare(cython.longlong, UNDEFINED_LENGTH)
_SQ_CODE = cython.declare(cython.longlong, (ord("S") << 8) | ord("Q"))
_UN_CODE = cython.declare(cython.longlong, (ord("U") << 8) | ord("N"))


def _vr_table() -> bytes:
    """Kind of each two-letter VR: 0 not a VR, 1 short length, 2 long length (PS3.5 7.1.2);
    index (first - 'A') * 26 + (second - 'A')."""
    table = bytearray(26 * 26)
    for vr in KNOWN_VRS:
        table[(vr[0] - 65) * 26 + vr[1] - 65] = 2 if vr in LONG_VRS else 1
    return bytes(table)


_VR_KIND: bytes = _vr_table()
_VR_BYTES: dict[int, bytes] = {(vr[0] << 8) | vr[1]: vr for vr in KNOWN_VRS}


@cython.cfunc
@cython.inline
@cython.nogil
@cython.exceptval(check=False)
def _u16(p: cython.p_uchar, i: cython.Py_ssize_t, big: cython.bint) -> cython.longlong:
    if big:
        return (cython.cast(cython.longlong, p[i]) << 8) | p[i + 1]
    return (cython.cast(cython.longlong, p[i + 1]) << 8) | p[i]


@cython.cfunc
@cython.inline
@cython.nogil
@cython.exceptval(check=False)
def _u32(p: cython.p_uchar, i: cython.Py_ssize_t, big: cython.bint) -> cython.longlong:
    if big:
        return (_u16(p, i, big) << 16) | _u16(p, i + 2, big)
    return (_u16(p, i + 2, big) << 16) | _u16(p, i, big)


@cython.cfunc
@cython.inline
@cython.nogil
@cython.exceptval(check=False)
def _vr_kind(table: cython.p_uchar, a: cython.longlong, b: cython.longlong) -> cython.int:
    if a < 65 or a > 90 or b < 65 or b > 90:
        return 0
    return table[(a - 65) * 26 + b - 65]


@cython.cfunc
@cython.nogil
@cython.exceptval(check=False)
def _skip_undefined(p: cython.p_uchar, size: cython.Py_ssize_t, pos: cython.Py_ssize_t,
                    implicit: cython.bint, big: cython.bint, table: cython.p_uchar
                    ) -> cython.longlong:
    """Skip the content of an undefined-length element whose value starts at `pos` (items,
    up to and including the sequence delimiter). Returns the position after it, -1 for a
    malformed sequence, or -2 - n when the buffer must hold n bytes to go on.

    Iterative: `depth` counts open levels (even: inside a sequence, expecting items;
    odd: inside an item of undefined length, expecting elements). An undefined-length UN
    element holds implicit VR data (PS3.5 6.2.2): `implicit_from` is the depth from which
    elements are implicit, until the walk climbs back above it."""
    depth: cython.longlong = 0
    implicit_from: cython.longlong = 0 if implicit else -1
    tag: cython.longlong
    length: cython.longlong
    head: cython.longlong
    kind: cython.int
    vr: cython.longlong
    while True:
        if pos + 8 > size:
            return -2 - (pos + 8)
        tag = (_u16(p, pos, big) << 16) | _u16(p, pos + 2, big)
        vr = 0
        if tag == _ITEM or tag == _ITEM_END or tag == _SEQ_END or (
                implicit_from >= 0 and depth >= implicit_from):
            length = _u32(p, pos + 4, big)
            head = 8
        else:
            vr = (cython.cast(cython.longlong, p[pos + 4]) << 8) | p[pos + 5]
            kind = _vr_kind(table, p[pos + 4], p[pos + 5])
            if kind == 2:
                if pos + 12 > size:
                    return -2 - (pos + 12)
                length = _u32(p, pos + 8, big)
                head = 12
            elif kind == 1:
                length = _u16(p, pos + 6, big)
                head = 8
            else:
                return -1
        if depth % 2 == 0:  # in a sequence: an item or the sequence delimiter
            if tag == _SEQ_END:
                pos += 8
                if depth == 0:
                    return pos
                depth -= 1
                if depth < implicit_from:
                    implicit_from = -1
                continue
            if tag != _ITEM:
                return -1
            if length != _UNDEFINED:
                if pos + 8 + length > size:
                    return -2 - (pos + 8 + length)
                pos += 8 + length
                continue
            pos += 8
            depth += 1
            continue
        if tag == _ITEM_END:  # in an item of undefined length: its elements
            pos += head
            depth -= 1
            continue
        if length == _UNDEFINED:
            pos += head
            depth += 1
            if vr == _UN_CODE and implicit_from < 0:
                implicit_from = depth
            continue
        if pos + head + length > size:
            return -2 - (pos + head + length)
        pos += head + length


@cython.cfunc
@cython.nogil
@cython.boundscheck(False)
@cython.wraparound(False)
@cython.exceptval(check=False)
def _walk(p: cython.p_uchar, size: cython.Py_ssize_t, pos: cython.Py_ssize_t,
          implicit: cython.bint, big: cython.bint, meta_only: cython.bint,
          table: cython.p_uchar, out: cython.longlong[::1]) -> cython.Py_ssize_t:
    """Walk from `pos`, writing (tag, VR code, value start, value length) records into
    `out` after its head; the status and its numbers go to out[0:4]. Returns the record
    count. No Python object is touched: this runs without the GIL."""
    count: cython.Py_ssize_t = 0
    tag: cython.longlong
    group: cython.longlong
    length: cython.longlong
    head: cython.longlong
    vr: cython.longlong
    kind: cython.int
    end: cython.longlong
    rec: cython.Py_ssize_t
    while True:
        out[1] = pos
        if count >= _CAPACITY:
            out[0] = _FULL
            return count
        if pos + 8 > size:
            out[0] = _NEED
            out[2] = pos + 8
            return count
        group = _u16(p, pos, big)
        tag = (group << 16) | _u16(p, pos + 2, big)
        if meta_only and group != 2:
            out[0] = _META_END
            return count
        vr = 0
        if implicit:
            length = _u32(p, pos + 4, big)
            head = 8
        else:
            kind = _vr_kind(table, p[pos + 4], p[pos + 5])
            if kind == 2:
                if pos + 12 > size:
                    out[0] = _NEED
                    out[2] = pos + 12
                    return count
                length = _u32(p, pos + 8, big)
                head = 12
            elif kind == 1:
                length = _u16(p, pos + 6, big)
                head = 8
            else:
                out[0] = _BAD
                return count
            vr = (cython.cast(cython.longlong, p[pos + 4]) << 8) | p[pos + 5]
        if tag == 0x7FE00010 or tag == 0x7FE00008 or tag == 0x7FE00009:
            out[0] = _PIXEL
            out[2] = length
            out[3] = tag
            return count
        rec = _HEAD + 4 * count
        if length == _UNDEFINED:
            if meta_only:
                out[0] = _BAD
                return count
            end = _skip_undefined(p, size, pos + head, implicit or vr == _UN_CODE, big,
                                  table)
            if end == -1:
                out[0] = _BAD
                return count
            if end < -1:
                out[0] = _NEED
                out[2] = -2 - end
                return count
            out[rec] = tag
            out[rec + 1] = _SQ_CODE
            out[rec + 2] = 0
            out[rec + 3] = 0
        else:
            end = pos + head + length
            if end > size:
                out[0] = _NEED
                out[2] = end
                return count
            out[rec] = tag
            out[rec + 1] = vr
            out[rec + 2] = pos + head
            out[rec + 3] = length
        count += 1
        pos = end


#: Each thread's table for :func:`walk_records`' passes (8 KiB): made once per thread,
#: not per call (allocating and zeroing it took about half the call's instructions on a
#: 342-element header, callgrind). A walk calls nothing that could walk again meanwhile.
_SCRATCH = threading.local()


@cython.ccall
def walk_records(buf: bytes, pos: cython.Py_ssize_t, implicit: cython.bint,
                 big_endian: cython.bint, meta_only: cython.bint, records: Any) -> tuple:
    """Walk the data elements of `buf` from `pos` (the top level of a dataset), appending
    four numbers per element to `records` (an ``array("q")``): tag, VR code (the two VR
    letters as a 16-bit number; 0 when implicit), value start and value length. An element
    of undefined length (a sequence) is skipped whole and recorded as (tag, "SQ", 0, 0).

    No Python object is made per element: the header view (:mod:`read/header.py`) makes
    values only for the elements asked for (:func:`element_at`). Returns (status, pos, a,
    b) as :func:`walk_elements` does."""
    if buf is None:
        raise TypeError("walk_records needs a bytes buffer, not None")
    if pos < 0 or pos > len(buf):  # every later read is checked against the end only
        raise ValueError(f"walk start {pos} is outside the {len(buf)}-byte buffer")
    kinds: bytes = _VR_KIND
    p: cython.p_uchar = buf
    table: cython.p_uchar = kinds
    size: cython.Py_ssize_t = len(buf)
    out = getattr(_SCRATCH, "out", None)
    if out is None:
        out = _SCRATCH.out = array("q", bytes(8 * (_HEAD + 4 * _CAPACITY)))
    view: cython.longlong[::1] = out
    count: cython.Py_ssize_t
    while True:
        with cython.nogil:
            count = _walk(p, size, pos, implicit, big_endian, meta_only, table, view)
        if count:
            records.extend(out[_HEAD:_HEAD + 4 * count])
        pos = view[1]
        if view[0] != _FULL:
            return view[0], pos, view[2], view[3]


@cython.ccall
def walk_elements(buf: bytes, pos: cython.Py_ssize_t, implicit: cython.bint,
                  big_endian: cython.bint, meta_only: cython.bint,
                  raw: dict) -> tuple:
    """Walk the data elements of `buf` from `pos` (the top level of a dataset).

    Each element is stored in `raw` as tag -> (VR bytes, or b"" when implicit; value
    bytes); an element of undefined length (a sequence) is skipped whole and stored as
    (b"SQ", b""). Returns (status, pos, a, b):

    - (PIXEL, offset, length, tag): stopped at Pixel Data (or Float/Double Float Pixel
      Data), which starts at `offset`; its value is not read;
    - (NEED, pos, n, 0): the buffer ends inside the element at `pos`; walk again from `pos`
      with at least `n` bytes in the buffer (or, if the data has no more, it ends there);
    - (BAD, pos, 0, 0): at or after `pos` lies something that is not a data element
      (unknown VR, malformed sequence): the caller reads the file another way;
    - (META_END, pos, 0, 0): with `meta_only`, the first element outside group 0002.

    :func:`walk_records` with the elements made Python objects (the file meta, tests).
    """
    records = array("q")
    result = walk_records(buf, pos, implicit, big_endian, meta_only, records)
    view: cython.longlong[::1] = records
    i: cython.Py_ssize_t
    code: cython.longlong
    start: cython.Py_ssize_t
    vr_names = _VR_BYTES
    for i in range(0, len(records), 4):
        code = view[i + 1]
        start = view[i + 2]
        raw[view[i]] = (b"" if code == 0 else vr_names[code],
                        buf[start:start + view[i + 3]])
    return result


def element_at(buf: bytes, records: object, index: cython.Py_ssize_t) -> tuple:
    """(VR bytes, or b"" when implicit; value bytes) of record `index` of
    :func:`walk_records` over `buf`: what :func:`walk_elements` stores per tag."""
    view: cython.longlong[::1] = records
    code: cython.longlong = view[4 * index + 1]
    start: cython.Py_ssize_t = view[4 * index + 2]
    return (b"" if code == 0 else _VR_BYTES[code],
            buf[start:start + view[4 * index + 3]])


@cython.ccall
@cython.boundscheck(False)
@cython.wraparound(False)
def find_record(records: cython.longlong[::1], tag: cython.longlong,
                ascending: cython.bint) -> cython.Py_ssize_t:
    """Index of the last record of `tag` in `records` (:func:`walk_records`), or -1.

    `ascending` (:func:`strictly_ascending`): the tags rise, as PS3.5 7.1 orders them, so
    a binary search finds the only one; otherwise (a file out of order, a repeated tag)
    the last one wins, as it does in :func:`walk_elements`'s dict."""
    count: cython.Py_ssize_t = len(records) // 4
    lo: cython.Py_ssize_t = 0
    hi: cython.Py_ssize_t = count
    mid: cython.Py_ssize_t
    if ascending:
        while lo < hi:
            mid = (lo + hi) // 2
            if records[4 * mid] < tag:
                lo = mid + 1
            else:
                hi = mid
        if lo < count and records[4 * lo] == tag:
            return lo
        return -1
    mid = count - 1
    while mid >= 0:
        if records[4 * mid] == tag:
            return mid
        mid -= 1
    return -1


@cython.ccall
def lookup(buf: bytes, records: cython.longlong[::1], tag: cython.longlong,
           ascending: cython.bint) -> object:
    """(VR code, value bytes) of the last top-level element `tag` (:func:`find_record`,
    :func:`walk_records` over `buf`), or None: one call per value the header view reads."""
    index: cython.Py_ssize_t = find_record(records, tag, ascending)
    if index < 0:
        return None
    start: cython.Py_ssize_t = records[4 * index + 2]
    return records[4 * index + 1], buf[start:start + records[4 * index + 3]]


@cython.ccall
def lookup_many(buf: bytes, records: cython.longlong[::1], tags: cython.longlong[::1],
                ascending: cython.bint) -> tuple:
    """:func:`lookup` of each of `tags` (an ``array("q")``), as one tuple: what a set of
    values is made from, in one call (the scan's series-level values of a file)."""
    found: list[tuple[int, bytes] | None] = []
    i: cython.Py_ssize_t
    index: cython.Py_ssize_t
    start: cython.Py_ssize_t
    for i in range(len(tags)):
        index = find_record(records, tags[i], ascending)
        if index < 0:
            found.append(None)
        else:
            start = records[4 * index + 2]
            found.append((records[4 * index + 1],
                          buf[start:start + records[4 * index + 3]]))
    return tuple(found)


@cython.ccall
def fingerprint(buf: bytes, records: cython.longlong[::1], tags: cython.longlong[::1],
                ascending: cython.bint) -> bytes:
    """What the top-level elements `tags` (an ``array("q")``) of `buf` are made of, as one
    bytes object: per tag a presence byte and, when present, its VR code (2 bytes), value
    length (8 bytes) and value. Equal for two headers exactly when :func:`lookup_many`
    is (each length is written, so no two element lists give the same bytes).

    A cache key that costs one allocation and one hash (lookup_many's tuples of slices
    cost about 20 thousand instructions per call on the scan's 14-42 tags)."""
    if buf is None:
        raise TypeError("fingerprint needs a bytes buffer, not None")
    count: cython.Py_ssize_t = len(tags)
    size: cython.Py_ssize_t = len(buf)
    total: cython.Py_ssize_t = 0
    i: cython.Py_ssize_t
    k: cython.Py_ssize_t
    index: cython.Py_ssize_t
    start: cython.longlong
    length: cython.longlong
    code: cython.longlong
    for i in range(count):
        index = find_record(records, tags[i], ascending)
        if index < 0:
            total += 1
            continue
        start = records[4 * index + 2]
        length = records[4 * index + 3]
        if start < 0 or length < 0 or start + length > size:
            raise ValueError(f"record {index} lies outside the {size}-byte buffer")
        total += 11 + length
    out = bytearray(total)
    o: cython.uchar[::1] = out
    p: cython.p_uchar = buf
    pos: cython.Py_ssize_t = 0
    for i in range(count):
        index = find_record(records, tags[i], ascending)
        if index < 0:
            o[pos] = 0
            pos += 1
            continue
        code = records[4 * index + 1]
        start = records[4 * index + 2]
        length = records[4 * index + 3]
        o[pos] = 1
        o[pos + 1] = (code >> 8) & 0xFF
        o[pos + 2] = code & 0xFF
        for k in range(8):
            o[pos + 3 + k] = (length >> (8 * k)) & 0xFF
        pos += 11
        if cython.compiled:
            for k in range(length):
                o[pos + k] = p[start + k]
        else:
            out[pos:pos + length] = buf[start:start + length]
        pos += length
    return bytes(out)


@cython.ccall
@cython.boundscheck(False)
@cython.wraparound(False)
def strictly_ascending(records: cython.longlong[::1]) -> cython.bint:
    """Whether the tags of `records` (:func:`walk_records`) rise strictly."""
    i: cython.Py_ssize_t
    for i in range(4, len(records) - 3, 4):
        if records[i] <= records[i - 4]:
            return False
    return True
