"""The handler protocol: what a decoding backend must say and do.

A handler turns one *encoded frame* into a :class:`RawFrame`: the codec's samples as it
delivered them (any shape, any integer container) plus a DECLARATION of their layout
(planar or interleaved, colour space as delivered). It never reshapes, converts colour or
fixes the sign: :mod:`dicomdecode.decode.canonical` alone does that, for every handler
alike, which is what makes two handlers give bit-identical arrays for the same lossless
file (pydicom's ``pixels/decoders`` split, for the same reason).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dicomdecode.read.pixel_source import PixelSource


@dataclass
class RawFrame:
    """A decoded frame before normalisation, and how its samples are laid out.

    ``array`` holds Rows x Columns x Samples values in any shape (flat is fine) and any
    integer container. ``colour_space`` is the photometric interpretation the values are
    in as delivered: the header's, unless the codec converted (a JPEG 2000 decoder
    applies the inverse ICT/RCT itself; :mod:`~dicomdecode.decode.canonical` knows that
    rule, handlers just pass the header's value). ``planar`` is True when the samples
    come colour-by-plane (all R, then all G, then all B).
    """

    array: np.ndarray
    colour_space: str
    planar: bool = False


class Handler(Protocol):
    """A decoding backend: a name, the syntaxes it knows, and a per-frame decoder."""

    name: str
    #: transfer syntax UID -> the pip packages it needs (pydicom's DECODER_DEPENDENCIES idea)
    dependencies: dict[str, tuple[str, ...]]
    #: True when the codec can kill the process on bad data instead of raising (measured:
    #: GDCM throws uncaught C++ exceptions); see dispatch's fallback rule
    may_abort: bool
    #: True when decode_frame releases the GIL for the codec's work, so frames of a series
    #: decode in parallel on threads of one process (measured: imagecodecs does, the
    #: pylibjpeg plugins, GDCM and pyjpegls do not)
    releases_gil: bool

    def is_available(self) -> bool:
        """True if this handler's libraries import."""
        ...

    def supports(self, transfer_syntax: str) -> bool:
        """True if `transfer_syntax` is in this handler's table AND its libraries import."""
        ...

    def decode_frame(self, source: PixelSource, index: int) -> RawFrame:
        """Decode frame `index` (0-based) of `source`; raise on any failure."""
        ...


class HandlerDeclined(ValueError):
    """A handler refuses a case it is known to get wrong (rather than return garbage).

    The dispatcher tries the next handler; if only refusals remain and another handler
    exists that is not installed, the user is told which extra to install."""


@functools.cache
def have_module(name: str) -> bool:
    """True if the optional library `name` imports (checked once per process). ImportError,
    or a broken binary wheel raising OSError, both mean "not installed"."""
    try:
        __import__(name)
    except Exception:
        return False
    return True
