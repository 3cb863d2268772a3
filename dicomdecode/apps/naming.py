"""Stable, safe output names.

Header strings (series description, protocol) are written by scanners and people, so they may
hold slashes, ``..``, control characters, accents or patient names. Output names are built
only from sanitised pieces, never include Patient Name or ID unless asked, and end in a short
hash of the series key so two series with the same number and description never collide and
the same input always gives the same name (which is what ``--resume`` relies on).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path, PurePath
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
             *(f"LPT{i}" for i in range(1, 10))}


def safe_component(text: object, *, max_len: int = 64, default: str = "unnamed") -> str:
    """One path component from any string: ASCII ``[A-Za-z0-9._-]`` only, no leading dot.

    Never returns ``""``, ``"."`` or ``".."``, and never contains a path separator, so the
    result can be joined under an output folder without escaping it.
    """
    s = unicodedata.normalize("NFKD", str(text if text is not None else ""))
    s = s.encode("ascii", "ignore").decode("ascii")
    s = _UNSAFE.sub("_", s).strip("._-")
    s = re.sub(r"_+", "_", s)[:max_len].rstrip("._-")
    if not s or s.upper().split(".")[0] in _RESERVED:
        s = f"{default}_{s}" if s else default
    return s


def short_hash(text: str, n: int = 8) -> str:
    """First ``n`` hex digits of the SHA-1 of ``text``: stable across runs and machines."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:n]


def series_name(series: Any, *, include_patient: bool = False, patient: str | None = None
                ) -> str:
    """Base name for one series' outputs, e.g. ``0003_EPI_PE_AP_MR_1a2b3c4d``.

    Built from Series Number, Series Description and Modality (sanitised), plus a hash of
    the series key (``series.uid``). `patient` (Patient ID or Name, read by the caller from
    a file of the series) only with ``include_patient=True``.
    """
    number = getattr(series, "series_number", None)
    try:
        num = f"{int(number):04d}" if number not in (None, "") else "0000"
    except (TypeError, ValueError):
        num = safe_component(number, max_len=8)
    parts = [num]
    if include_patient:
        pid = patient or getattr(series, "patient_id", None) or getattr(series, "patient_name",
                                                                          None)
        if pid:
            parts.append(safe_component(pid, max_len=32))
    desc = safe_component(getattr(series, "description", "") or "", max_len=48) \
        if getattr(series, "description", "") else ""
    if desc:
        parts.append(desc)
    modality = getattr(series, "modality", "") or ""
    mod = safe_component(modality, max_len=8) if modality else ""
    if mod and not desc.upper().endswith(mod.upper()):  # no "..._CT_CT_..."
        parts.append(mod)
    key = str(getattr(series, "uid", "") or getattr(series, "series_uid", "") or "")
    parts.append(short_hash(key))
    return "_".join(parts)


def mirrored_path(src: str | os.PathLike[str], src_root: str | os.PathLike[str],
                  dst_root: str | os.PathLike[str], *, suffix: str = "") -> Path:
    """Output path for one input file: its path relative to ``src_root``, each component
    sanitised, under ``dst_root``. When ``src`` is ``src_root`` itself (a single file),
    just its sanitised name. ``suffix`` is appended when the name lacks it."""
    src_p = Path(os.path.abspath(src))
    root = Path(os.path.abspath(src_root))
    try:
        rel = src_p.relative_to(root)
    except ValueError:
        rel = PurePath(src_p.name)  # type: ignore[assignment]
    if str(rel) in ("", "."):
        rel = PurePath(src_p.name)  # type: ignore[assignment]
    parts = [safe_component(p, max_len=100) for p in rel.parts]
    if suffix and not parts[-1].lower().endswith(suffix.lower()):
        parts[-1] += suffix
    out = Path(dst_root).joinpath(*parts)
    return out


def scrub_identifiers(path: Path, root: str | os.PathLike[str], identifiers: list[str],
                      replacement: str = "anon") -> Path:
    """``path`` with each occurrence of a patient identifier (name parts, ID; at least 3
    characters, compared after :func:`safe_component`) in its components below ``root``
    replaced: input file names written by some PACS carry the patient's name."""
    keys = sorted({safe_component(i, max_len=100) for i in identifiers
                   if i and len(str(i).strip()) >= 3} - {"unnamed"}, key=len, reverse=True)
    keys = [k for k in keys if len(k) >= 3]
    if not keys:
        return path
    rel = Path(os.path.relpath(path, root))
    parts = []
    for part in rel.parts:
        for k in keys:
            part = re.sub(re.escape(k), replacement, part, flags=re.IGNORECASE)
        parts.append(part)
    return Path(root).joinpath(*parts)


def is_within(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when ``path`` resolves inside ``root`` (guards every write)."""
    p = os.path.realpath(path)
    r = os.path.realpath(root)
    return p == r or p.startswith(r.rstrip(os.sep) + os.sep)


__all__ = ["safe_component", "short_hash", "series_name", "mirrored_path", "is_within",
           "scrub_identifiers"]
