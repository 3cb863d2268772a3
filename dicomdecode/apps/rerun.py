"""Re-runs into a folder that already holds outputs: which outputs may be kept.

An output may be kept by ``--resume`` only when it exists AND its source files are the ones
it was made from. Each conversion task records the size and modification time of its
sources in ``DST/.dicomdecode/sources/<output>.json`` BEFORE it writes the output (outputs
are written atomically), so an output under its final name with a matching record is
complete and current even after a killed run; an output without one (an older version, a
file put there by hand) is rewritten rather than trusted. Source paths are recorded as
hashes: they may hold patient names, which never go into DST unless asked.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from dicomdecode.writers import write_json

STATE_DIR = ".dicomdecode"

#: the reason a series or file is not rewritten when neither --resume nor --force is given
EXISTS_HINT = "use --resume to keep outputs whose sources did not change, or --force to overwrite"


def _path_key(path: str) -> str:
    """A source's absolute path, hashed (the same file from another working directory is
    the same source; the name itself stays out of DST)."""
    full = os.path.normpath(os.path.abspath(path))
    return hashlib.sha256(full.encode("utf-8", "surrogateescape")).hexdigest()[:24]


def source_stamps(paths: Iterable[str]) -> dict[str, list[int]]:
    """``hashed path -> [size, mtime_ns]`` of each source."""
    out: dict[str, list[int]] = {}
    for p in paths:
        key = _path_key(p)
        try:
            st = os.stat(p)
        except OSError:
            out[key] = [-1, -1]
            continue
        out[key] = [st.st_size, st.st_mtime_ns]
    return out


def _record_path(dst: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    rel = os.path.relpath(os.path.abspath(output), os.path.abspath(dst))
    return Path(dst) / STATE_DIR / "sources" / f"{rel}.json"


def record_sources(dst: str | os.PathLike[str], output: str | os.PathLike[str],
                   sources: Sequence[str], *, partial: bool = False) -> None:
    """Note which sources (and their size/mtime) `output` is made from, and whether it
    lacks some of them (``partial``: a re-run should try again); call it BEFORE writing
    `output`."""
    write_json(_record_path(dst, output), {"output": os.fspath(output), "partial": partial,
                                           "sources": source_stamps(sources)})


def sources_unchanged(dst: str | os.PathLike[str], output: str | os.PathLike[str],
                      sources: Sequence[str]) -> str | None:
    """None when `output` was made from exactly `sources` as they are now; else why not
    (a plain sentence for the report)."""
    try:
        record = json.loads(_record_path(dst, output).read_text())
        recorded = record["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return "no record of the sources it was made from"
    if record.get("partial"):
        return "it was written partial (slices could not be decoded)"
    now = source_stamps(sources)
    if set(recorded) != set(now):
        return "the series' files are not the ones it was made from"
    changed = [p for p in sources if list(recorded[_path_key(p)]) != now[_path_key(p)]]
    if changed:
        return f"{len(changed)} source file(s) changed since, e.g. {changed[0]}"
    return None


def existing_outputs(targets: Sequence[Path]) -> list[Path]:
    """The `targets` that exist already."""
    return [p for p in targets if p.exists()]


__all__ = ["STATE_DIR", "EXISTS_HINT", "source_stamps", "record_sources", "sources_unchanged",
           "existing_outputs"]
