"""Decoding backends, one module each. ``HANDLERS`` maps a handler's name to it."""

from __future__ import annotations

from dicomdecode.decode.handlers.base import Handler, HandlerDeclined, PixelSource, RawFrame
from dicomdecode.decode.handlers.charls import CharlsHandler
from dicomdecode.decode.handlers.gdcm import GdcmHandler
from dicomdecode.decode.handlers.imagecodecs import ImagecodecsHandler
from dicomdecode.decode.handlers.libjpeg import LibjpegHandler
from dicomdecode.decode.handlers.native import NativeHandler
from dicomdecode.decode.handlers.pylibjpeg import PylibjpegHandler

HANDLERS: dict[str, Handler] = {
    handler.name: handler
    for handler in (NativeHandler(), ImagecodecsHandler(), PylibjpegHandler(), LibjpegHandler(),
                    GdcmHandler(), CharlsHandler())
}

__all__ = ["HANDLERS", "Handler", "HandlerDeclined", "PixelSource", "RawFrame"]
