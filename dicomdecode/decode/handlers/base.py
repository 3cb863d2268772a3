"""The handler protocol and the description of one file's pixel data.

A handler turns one *encoded frame* into a *raw frame*: a NumPy array shaped
``(rows, columns)`` or ``(rows, columns, samples)`` (samples interleaved), in whatever
integer container its codec produced. Everything after that (dtype from Bits Allocated
and Pixel Representation, Bits Stored masking and sign extension, colour conversion) is
done once, for every handler alike, in :mod:`dicomdecode.pixels`. That split is what
makes two handlers give bit-identical arrays for the same lossless file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class PixelSource:
    """Everything a handler needs to know about one file's pixel data.

    ``frames`` holds one encoded byte string per frame for encapsulated syntaxes;
    ``native`` holds the whole uncompressed Pixel Data value for native ones.
    """

    path: str
    transfer_syntax: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int
    number_of_frames: int
    frames: list[bytes] = field(default_factory=list)
    native: bytes | None = None
    float_pixels: int = 0  # 32 for Float Pixel Data, 64 for Double Float Pixel Data
    big_endian: bool = False
    pixel_vr: str = "OW"

    @property
    def frame_pixels(self) -> int:
        return self.rows * self.columns * self.samples_per_pixel


@dataclass
class RawFrame:
    """A decoded frame before normalisation.

    ``colour_space`` is the photometric interpretation the values are in now (a codec may
    already have turned YCbCr into RGB). ``signed`` says whether the codec's container
    type carries a sign that must be reinterpreted, not just masked.
    """

    array: np.ndarray
    colour_space: str


class Handler(Protocol):
    """A decoding backend: a name, the syntaxes it knows, and a per-frame decoder."""

    name: str
    #: transfer syntax UID -> the pip packages it needs (pydicom's DECODER_DEPENDENCIES idea)
    dependencies: dict[str, tuple[str, ...]]

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


def import_flag(importer: Callable[[], object]) -> bool:
    """Run `importer`, return False if it raises ImportError (a missing optional library)."""
    try:
        importer()
    except Exception:  # ImportError, or a broken binary wheel raising OSError
        return False
    return True
