"""Integer stored values into a wider integer output slice, rescaled, in one GIL-free pass.

Why: a CT's int16 (or uint16) stored values become int32 HU as every frame is copied into
the series' stack (:func:`dicomdecode.decode.store.rescale_into`). NumPy does that with a
buffered casting loop: ``np.add(int16_frame, int32(-1024), out=int32_slice)`` took
0.115 ms per 512 x 512 frame where the plain cast took 0.067 ms (2-core VM, warm
output), about 14 ms of a 0.13 s load of 300 slices. Here the widening, the multiply and
the add are one C loop over the frame, with the GIL released.

The rule is :mod:`dicomdecode.decode.store`'s integer rule, nothing new: with an integral
slope and intercept, ``stored * slope + intercept`` computed in 32 bits and stored in the
output dtype, which wraps modulo 2**bits like NumPy's integer arithmetic in the output
dtype (the C file is compiled with ``-fwrapv``; the cast to a narrower type keeps the low
bits, which are the same whatever the width of the arithmetic). The assembler chose the output dtype to hold every exact result, so the wrapped
value IS the exact one. ``tests/test_widen.py`` compares it with NumPy's rule for every
pair of dtypes here, compiled and interpreted.

ONE source, two ways to run it, as :mod:`dicomdecode.read.rlecore`: Cython compiles this
file (``setup.py``); interpreted (no compiler), the same loop runs over Python
memoryviews, correct but far too slow for frames, so the caller only uses it when
:data:`COMPILED` (and NumPy otherwise).
"""

from __future__ import annotations

try:
    import cython
except ImportError:  # a runtime without Cython: the decorators are no-ops
    from dicomdecode.read import _cython_shim as cython  # type: ignore[no-redef]

#: True when this module is the compiled extension, False when it runs interpreted
COMPILED: bool = cython.compiled

#: the stored dtypes (NumPy ``dtype.char``) the loop reads: int8, uint8, int16, uint16
SOURCE_CHARS = frozenset("bBhH")
#: the output dtypes it writes: int16, uint16, int32
OUTPUT_CHARS = frozenset("hHi")

Source = cython.fused_type(cython.schar, cython.uchar, cython.short, cython.ushort)
Output = cython.fused_type(cython.short, cython.ushort, cython.int)


@cython.boundscheck(False)
@cython.wraparound(False)
def rescale_into(src: Source[::1], out: Output[::1], slope: cython.int,
                 intercept: cython.int) -> None:
    """``out[i] = src[i] * slope + intercept`` for every i, in ``out``'s type (wrapping).

    `src` and `out` are one-dimensional and C-contiguous, of the same length (the caller
    passes ``frame.reshape(-1)``); compiled they may be NumPy arrays, interpreted they
    must be Python memoryviews (whose items are Python ints). `slope` and `intercept` fit
    the output dtype (store's rule checks it), so 32-bit arithmetic gives the same low
    bits as any wider one, and the compiler turns the loop into vector instructions."""
    n: cython.Py_ssize_t = src.shape[0]
    if out.shape[0] != n:
        raise ValueError(f"{n} stored values for {out.shape[0]} outputs")
    i: cython.Py_ssize_t
    with cython.nogil:
        if slope == 1:  # CT: the intercept alone (no multiply in the vector loop)
            for i in range(n):
                out[i] = src[i] + intercept
        else:
            for i in range(n):
                out[i] = src[i] * slope + intercept
