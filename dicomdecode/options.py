"""Every user option of dicomdecode, checked once, where the user passes it.

A typo must fail at once, before any file is touched, with a message that lists the valid
choices; and an option must mean the same on every road (``decode``, ``load``,
``convert``, the CLI, ``SliceDataset``, the MONAI reader). So the public calls turn their
keyword arguments into one frozen :class:`Options` (validated in ``__post_init__``) and
hand only that object down. The environment variables are read here and nowhere else:

========================  =============================================================
``DICOMDECODE_HANDLERS``  default handler order, e.g. ``gdcm,pylibjpeg``
``DICOMDECODE_WORKERS``   default worker count (a whole number >= 1)
``DICOMDECODE_MAX_BYTES`` memory budget for one decode/load, in bytes
``DICOMDECODE_TIMEOUT``   seconds a file may take in a worker process (default 300)
========================  =============================================================

Example::

    >>> from dicomdecode import Options
    >>> Options(rescale=False, handlers="gdcm,pylibjpeg").handlers
    ('gdcm', 'pylibjpeg')
    >>> Options(rescale="yes")
    Traceback (most recent call last):
    ...
    ValueError: rescale must be one of 'auto', True, False; got 'yes'
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from typing import Any, Literal

from dicomdecode.read.transfer_syntax import HANDLER_NAMES

RescaleMode = Literal["auto"] | bool
PhilipsScaling = Literal["precise", "display"]
HandlerChoice = str | Sequence[str] | None

ENV_HANDLERS = "DICOMDECODE_HANDLERS"
ENV_WORKERS = "DICOMDECODE_WORKERS"
ENV_MAX_BYTES = "DICOMDECODE_MAX_BYTES"
ENV_TIMEOUT = "DICOMDECODE_TIMEOUT"
DEFAULT_TIMEOUT = 300.0  # seconds one file may take in a worker before it counts as hung

RESCALE_CHOICES: tuple[RescaleMode, ...] = ("auto", True, False)
PHILIPS_CHOICES: tuple[str, ...] = ("precise", "display")


def parse_handlers(value: HandlerChoice, *, source: str = "handlers") -> tuple[str, ...] | None:
    """``"gdcm,pylibjpeg"`` or ``["gdcm", "pylibjpeg"]`` -> a checked tuple (None: default).

    Raises ValueError naming the unknown names and every valid one.
    """
    if value is None:
        return None
    if isinstance(value, str):
        names = [n.strip() for n in value.split(",")]
    elif isinstance(value, Sequence):
        names = [str(n).strip() for n in value]
    else:
        raise ValueError(f"{source} must be a name, a comma-separated string or a list of "
                         f"names, not {type(value).__name__}")
    names = [n for n in names if n]
    unknown = [n for n in names if n not in HANDLER_NAMES]
    if unknown or not names:
        raise ValueError(f"{source}: unknown handler name(s) {unknown or value!r}; valid: "
                         f"{', '.join(sorted(HANDLER_NAMES))}")
    return tuple(dict.fromkeys(names))


def _whole_number(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError
            value = int(str(value).strip())
        except ValueError:
            raise ValueError(f"{name} must be a whole number >= {minimum}, not {value!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, not {value}")
    return int(value)


def _positive_seconds(value: Any, name: str) -> float:
    try:
        seconds = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"{name} must be a number of seconds > 0, not {value!r}")
    return seconds


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, not {value!r}")
    return value


def parse_scheduler(value: str) -> int | str:
    """A ``--scheduler`` value, checked before anything starts: ``local:N`` gives N (the
    worker processes of a LocalCluster to start), an address (``tcp://host:port``,
    ``tls://...``) is returned as it is. Anything else is a ValueError naming both forms."""
    text = str(value).strip()
    if text.lower().startswith("local:"):
        return _whole_number(text[len("local:"):], "scheduler local:N")
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme.isalpha() or not rest:
        raise ValueError(f"scheduler must be local:N (N worker processes on this machine) or "
                         f"a scheduler address such as tcp://host:8786; got {value!r}")
    return text


@dataclass(frozen=True)
class Options:
    """How files are decoded and assembled. Every field is validated on construction.

    Attributes:
        rescale: ``"auto"`` (default) applies Rescale Slope/Intercept and picks the
            smallest dtype that holds every value the header allows; ``True`` always
            gives float32; ``False`` keeps stored values (slope/intercept per slice in
            the metadata).
        handlers: decoders to try, in order (``"gdcm,pylibjpeg"`` or a list); ``None``
            uses ``DICOMDECODE_HANDLERS`` if set, else the measured preference order.
        strict: raise :class:`~dicomdecode.errors.InconsistentSeriesError` on any
            inconsistency (gaps, uneven spacing, a file that failed) instead of warning.
        workers: processes for decoding and scanning; ``None`` uses
            ``DICOMDECODE_WORKERS`` if set, else every CPU this process may use.
        philips_scaling: ``"precise"`` (default: Philips MR floating-point values, as
            dcm2niix) or ``"display"`` (the standard Rescale Slope/Intercept).
        invert_monochrome1: mirror MONOCHROME1 values so that higher means brighter.
        mask_padding: voxels equal to Pixel Padding Value (or within its range) become
            NaN in a float32 array.
        convert_color: YCbCr data is returned as RGB (default); ``False`` keeps the
            stored colour space.
        max_bytes: refuse (``ResourceLimitError``) a decode or load that would allocate
            more; ``None`` uses ``DICOMDECODE_MAX_BYTES`` if set, else half the memory
            available when the decode starts.
        timeout: seconds one file may take in a worker process before the worker is
            stopped and the file fails as hung (``DICOMDECODE_TIMEOUT``, default 300).
            Only work in worker processes can be stopped: with ``workers=1``, or on the
            threads used for codecs that release the GIL (imagecodecs, uncompressed
            reads; none has been seen to hang in the fuzz runs), a codec that spins
            spins in your process.
        tilt_correct: ``convert`` also writes a gantry-tilt-corrected copy of each tilted
            series (``<name>_Tilt``, as dcm2niix), resampled onto an orthogonal grid.
        equalize_spacing: ``convert`` also writes an evenly spaced copy of each series with
            uneven slice gaps (``<name>_Eq``; ``_Tilt_Eq`` with ``tilt_correct``).
    """

    rescale: RescaleMode = "auto"
    handlers: tuple[str, ...] | None = None
    strict: bool = False
    workers: int | None = None
    philips_scaling: PhilipsScaling = "precise"
    invert_monochrome1: bool = False
    mask_padding: bool = False
    convert_color: bool = True
    max_bytes: int | None = None
    timeout: float | None = None
    tilt_correct: bool = False
    equalize_spacing: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.rescale, str):
            set_(self, "rescale", self.rescale.strip().lower())
        if not any(self.rescale is c or self.rescale == c and isinstance(c, str)
                   for c in RESCALE_CHOICES):
            raise ValueError(f"rescale must be one of 'auto', True, False; got {self.rescale!r}")
        set_(self, "handlers", parse_handlers(self.handlers))
        _flag(self.strict, "strict")
        if self.workers is not None:
            set_(self, "workers", _whole_number(self.workers, "workers"))
        if self.philips_scaling not in PHILIPS_CHOICES:
            raise ValueError(f"philips_scaling must be one of {', '.join(map(repr, PHILIPS_CHOICES))}"
                             f"; got {self.philips_scaling!r}")
        _flag(self.invert_monochrome1, "invert_monochrome1")
        _flag(self.mask_padding, "mask_padding")
        _flag(self.convert_color, "convert_color")
        if self.max_bytes is not None:
            set_(self, "max_bytes", _whole_number(self.max_bytes, "max_bytes"))
        if self.timeout is not None:
            set_(self, "timeout", _positive_seconds(self.timeout, "timeout"))
        _flag(self.tilt_correct, "tilt_correct")
        _flag(self.equalize_spacing, "equalize_spacing")
        if (self.tilt_correct or self.equalize_spacing) and find_spec("scipy") is None:
            raise ValueError('tilt_correct / equalize_spacing resample with scipy, which is not '
                             'installed: pip install "dicomdecode[resample]"')

    @property
    def file_timeout(self) -> float:
        """:attr:`timeout`, or the default when unset."""
        return self.timeout if self.timeout is not None else DEFAULT_TIMEOUT

    @classmethod
    def resolve(cls, options: Options | None = None, /, **given: Any) -> Options:
        """The options of one public call: `options` (or the defaults), with every
        keyword in `given` that differs from its default applied on top, then the
        environment filled in where the user said nothing.

        An unknown keyword is a TypeError; a bad value a ValueError (see the fields).
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - set(fields))
        if unknown:
            raise TypeError(f"unknown option(s) {unknown}; valid: {', '.join(fields)}")
        if options is not None and not isinstance(options, Options):
            raise TypeError(f"options must be a dicomdecode.Options, not {type(options).__name__}")
        base = options if options is not None else cls()
        changes = {k: v for k, v in given.items() if not _is_default(fields[k], v)}
        merged = dataclasses.replace(base, **changes) if changes else base
        return merged.with_environment()

    def with_environment(self, environ: Mapping[str, str] | None = None) -> Options:
        """These options with ``DICOMDECODE_*`` defaults applied to the fields left unset."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        if self.handlers is None and env.get(ENV_HANDLERS, "").strip():
            changes["handlers"] = parse_handlers(env[ENV_HANDLERS], source=ENV_HANDLERS)
        if self.workers is None and env.get(ENV_WORKERS, "").strip():
            changes["workers"] = _whole_number(env[ENV_WORKERS], ENV_WORKERS)
        if self.max_bytes is None and env.get(ENV_MAX_BYTES, "").strip():
            changes["max_bytes"] = _whole_number(env[ENV_MAX_BYTES], ENV_MAX_BYTES)
        if self.timeout is None and env.get(ENV_TIMEOUT, "").strip():
            changes["timeout"] = _positive_seconds(env[ENV_TIMEOUT], ENV_TIMEOUT)
        return dataclasses.replace(self, **changes) if changes else self


def _is_default(field: dataclasses.Field[Any], value: Any) -> bool:
    default = field.default
    return value is default or (type(value) is type(default) and value == default)


__all__ = ["Options", "HandlerChoice", "RescaleMode", "PhilipsScaling", "parse_handlers",
           "ENV_HANDLERS", "ENV_WORKERS", "ENV_MAX_BYTES", "ENV_TIMEOUT", "DEFAULT_TIMEOUT"]
