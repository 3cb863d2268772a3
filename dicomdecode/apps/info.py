"""Header facts about one file's pixel data, for ``dicomdecode info`` and for people."""

from __future__ import annotations

import os
from typing import Any

from dicomdecode.decode.dispatch import candidates, check_decodable
from dicomdecode.errors import MissingHandlerError, UnsupportedTransferSyntaxError
from dicomdecode.options import Options
from dicomdecode.read import transfer_syntax as ts
from dicomdecode.read.dataset import PathLike, pixel_source, read_dataset


def library_info() -> dict[str, Any]:
    """Facts about this installation: version, and whether the compiled core is in use
    (``dicomdecode info`` without a file)."""
    from dicomdecode import __version__
    from dicomdecode.read import rlecore, walkcore

    return {
        "version": __version__,
        "compiled_core": walkcore.COMPILED,
        "core_module": walkcore.__file__,
        # the built-in RLE decoder: compiled, the first RLE handler; interpreted, the last
        "compiled_rle": rlecore.COMPILED,
        "note": "" if walkcore.COMPILED else walkcore.INTERPRETED_NOTE,
    }


def file_info(path: PathLike) -> dict[str, Any]:
    """Header facts about `path`'s pixel data, and which handlers would decode it."""
    name = os.fspath(path)
    ds = read_dataset(name)
    source = pixel_source(ds, name)
    row = ts.lookup(source.transfer_syntax)
    requested = Options.resolve().handlers
    facts = {
        "path": name,
        "transfer_syntax": source.transfer_syntax,
        "transfer_syntax_name": row.name if row else "unknown",
        "lossy": bool(row.lossy) if row else None,
        "rows": source.rows,
        "columns": source.columns,
        "frames": source.number_of_frames,
        "samples_per_pixel": source.samples_per_pixel,
        "bits_allocated": source.bits_allocated,
        "bits_stored": source.bits_stored,
        "pixel_representation": source.pixel_representation,
        "photometric_interpretation": source.photometric_interpretation,
        "planar_configuration": source.planar_configuration,
        "modality": str(ds.get("Modality", "")),
        "manufacturer": str(ds.get("Manufacturer", "")),
        "handlers": [h.name for h in candidates(source.transfer_syntax, requested)],
    }
    if not facts["handlers"]:  # say how to get one, as the decode error would
        try:
            check_decodable(source, requested)
        except MissingHandlerError as exc:
            facts["install"] = exc.install or exc.reason
        except UnsupportedTransferSyntaxError as exc:
            facts["install"] = exc.reason
    return facts
