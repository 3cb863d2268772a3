"""Duplicates: the same SOP instance found in more than one file.

Only byte-identical copies are dropped (a :class:`~dicomdecode.series.Skip` of kind
"duplicate" naming the kept file). Files that share a SOP Instance UID but differ in
content (a UID reused by a tool that rewrote the pixels) are both kept and reported on
their series.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict

from dicomdecode.read.sources.mirror import ensure_complete
from dicomdecode.scan.grouping import Record
from dicomdecode.series import Skip


def dedupe(records: list[Record], skipped: list[Skip]
           ) -> tuple[list[Record], dict[str, list[str]]]:
    """Drop second copies of the same SOP instance (same frame, same file content).

    Appends a Skip per dropped copy to ``skipped``; returns the kept records and, per
    series UID, the warnings to put on it (and under ``uid + "\\0paths"`` the files)."""
    first_path: dict[tuple[str, int], str] = {}
    dup_of: dict[str, str] = {}
    clash: dict[str, str] = {}
    kept = []
    for rec in sorted(records, key=lambda r: (r[0].path, r[0].frame)):
        im = rec[0]
        key = (im.sop_instance_uid, im.frame)
        original = first_path.get(key)
        if im.sop_instance_uid and original is not None and original != im.path:
            if same_content(original, im.path):
                dup_of[im.path] = original
                continue
            clash[im.path] = original
        first_path.setdefault(key, im.path)
        kept.append(rec)
    duplicates: dict[str, list[str]] = defaultdict(list)  # series uid -> messages
    series_of = {r[0].path: r[2] for r in records}
    for path, original in sorted(dup_of.items()):
        skipped.append(Skip("duplicate", path, f"duplicate of {original} (same SOP Instance UID)",
                            duplicate_of=original))
        series = series_of[path]
        duplicates[series].append(f"duplicate instance: {path} repeats {original}")
        duplicates[series + "\0paths"].extend([path, original])
    for path, original in sorted(clash.items()):
        series = series_of[path]
        duplicates[series].append(
            f"{path} has the SOP Instance UID of {original} but different content")
        duplicates[series + "\0paths"].extend([path, original])
    return kept, duplicates


def same_content(first: str, second: str) -> bool:
    """Byte-identical files (size first, then a hash): only run on a UID collision."""
    try:
        if os.path.getsize(first) != os.path.getsize(second):
            return False
        # mirrored remote objects hold only their headers until now: compare whole files
        if ensure_complete([first, second]):
            return False
        digests = []
        for path in (first, second):
            with open(path, "rb") as fh:
                digests.append(hashlib.file_digest(fh, "sha1").digest())
        return digests[0] == digests[1]
    except OSError:
        return False
