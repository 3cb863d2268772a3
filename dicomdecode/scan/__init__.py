"""Series discovery: paths in, SeriesInfo out, from headers only (pixels are never decoded).

A folder is walked recursively; every file ends up either in a series or in
``ScanResult.skipped`` as a structured :class:`~dicomdecode.series.Skip`. The work is
split by job:

* ``walk.py``: walking paths, reading headers (fast view, pydicom fallback), skips, the
  public :func:`scan` (big folders in parallel through ``engine/parallel.py``);
* ``flavours/``: one factory, :func:`images_from_header`, that recognises the flavour
  (classic, enhanced, Siemens mosaic, UIH VFRAME, RT Dose) and the vendor once;
* ``grouping.py``: named split rules, geometric ordering, the 4D axis;
* ``dedupe.py``: byte-identical copies of one instance.

The data types live in :mod:`dicomdecode.series` and are re-exported here.
"""

from __future__ import annotations

from dicomdecode.read.header import NeedsFullParse
from dicomdecode.scan.flavours import META_KEYWORDS, images_from_header, series_meta
from dicomdecode.scan.walk import iter_files, read_header, scan
from dicomdecode.series import SKIP_KINDS, ImageRef, ScanResult, SeriesInfo, Skip, Skipped

__all__ = ["META_KEYWORDS", "SKIP_KINDS", "ImageRef", "NeedsFullParse", "ScanResult",
           "SeriesInfo", "Skip", "Skipped", "images_from_header", "iter_files", "read_header",
           "scan", "series_meta"]
