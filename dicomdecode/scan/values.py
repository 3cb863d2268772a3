"""Header values as plain Python: tolerant conversions shared by the scan modules.

A header value may be missing, empty, malformed or multi-valued; these helpers turn it
into a float/int/tuple or None, never raising on bad input.

"nan" and "inf" are not decimal strings (PS3.5 6.2: a DS is a fixed or floating point
number), though Python and pydicom parse them: a value that is not a finite number is
malformed, so absent here, as "abc" is. Otherwise a NaN position or spacing reached the
affine, a NaN slope made every voxel NaN, and NaN (never equal to itself) split a series
into one volume per file.
"""

from __future__ import annotations

import decimal
import math
from typing import Any


def floats(value: Any, n: int) -> tuple[float, ...] | None:
    """``n`` floats from a multi-valued element, or None (missing, malformed, wrong count)."""
    if value is None:
        return None
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError, OverflowError):
        return None
    if len(out) != n or not all(math.isfinite(v) for v in out):
        return None
    return out


def opt_float(value: Any) -> float | None:
    """A finite float, or None (missing, empty, malformed, not finite)."""
    try:
        out = float(value) if value is not None and value != "" else None
    except (TypeError, ValueError, OverflowError):
        return None
    return out if out is None or math.isfinite(out) else None


def opt_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def first_value(value: Any) -> Any:
    items = as_list(value)
    return items[0] if items else None


def upper_strings(value: Any) -> tuple[str, ...]:
    """A CS value (Image Type and the like) as stripped upper-case strings."""
    return tuple(str(v).strip().upper() for v in as_list(value))


def json_value(value: Any) -> Any:
    """Header value as plain JSON types (a number that is not finite becomes None: JSON
    has no NaN, and it is no decimal string either)."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str or kind is int or value is None:
        return value  # the plain types the header view gives: as they are
    if isinstance(value, bytes):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):  # pydicom's IS is an int subclass
        return int(value)
    if isinstance(value, float | decimal.Decimal):  # DSfloat / DSdecimal
        try:
            number = float(value)
        except ValueError:  # Decimal("sNaN")
            return None
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return str(value)
    if hasattr(value, "__iter__"):
        return [json_value(v) for v in value]
    return str(value)  # PersonName and the like


def transfer_syntax(ds: Any) -> str:
    """Transfer Syntax UID from the file meta, inferred from the encoding when absent: the
    reading layer's answer (:func:`dicomdecode.read.dataset.transfer_syntax_of`), so the
    scan and the decode roads read a file with the same syntax."""
    from dicomdecode.read.dataset import transfer_syntax_of

    return transfer_syntax_of(ds)


def tm_seconds(value: Any) -> float | None:
    """DICOM TM ("HHMMSS.ffffff", also "HH:MM:SS") to seconds, or None."""
    if value is None:
        return None
    text = str(value).replace(":", "").strip()
    if not text:
        return None
    try:
        main, _, frac = text.partition(".")
        main = main.ljust(6, "0")
        secs = int(main[0:2]) * 3600 + int(main[2:4]) * 60 + int(main[4:6])
        return secs + (float("0." + frac) if frac else 0.0)
    except ValueError:
        return None
