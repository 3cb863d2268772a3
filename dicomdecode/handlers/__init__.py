"""Decoding backends, one module each. ``HANDLERS`` maps a handler's name to it."""

from __future__ import annotations

from .base import Handler, HandlerDeclined, PixelSource, RawFrame
from .charls import CharlsHandler
from .gdcm import GdcmHandler
from .native import NativeHandler
from .pylibjpeg import PylibjpegHandler

HANDLERS: dict[str, Handler] = {
    handler.name: handler
    for handler in (NativeHandler(), PylibjpegHandler(), GdcmHandler(), CharlsHandler())
}

__all__ = ["HANDLERS", "Handler", "HandlerDeclined", "PixelSource", "RawFrame"]
