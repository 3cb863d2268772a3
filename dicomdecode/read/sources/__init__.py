"""Where bytes come from: a local path, memory, an fsspec URL (S3, GCS, Azure, HTTP) or a
DICOMweb server, behind one interface of ranged reads (:class:`base.ByteSource`).

Nothing above ``read/`` knows where a file lives: remote objects are MIRRORED into a
private folder (:mod:`mirror`) as sparse files that hold the header (fetched with ranged
reads, grown until the Pixel Data element is reached) and, once something needs them, the
pixels (fetched once per file). The header fast path, the guard's size checks, the
by-offset pixel reads and worker processes then see ordinary files. URLs are shown
redacted (:func:`redact.redact`): credentials never reach a report, a log or an error.
"""

from __future__ import annotations

from dicomdecode.read.sources.base import ByteSource, Transfer, is_url

__all__ = ["ByteSource", "Transfer", "is_url"]
