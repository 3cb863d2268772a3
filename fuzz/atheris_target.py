"""Coverage-guided fuzzing (atheris / libFuzzer) of the reading layer, the guard and the
canonical step: what mutation fuzzing (fuzz.run) cannot reach by luck.

One input is one file's bytes. It goes through the header walk of the scan (fast view,
pydicom fallback), the file road of ``decode`` and the in-memory road
(``decode(bytes)``), all with the native handler only: uncompressed data is decoded and
made canonical (byte order, sign, masks, planar layout, 4:2:2); compressed data goes
through the guard (header, frames and offset tables, codestream headers, size bounds,
budget) and stops at the codec (MissingHandlerError), so no third-party codec runs and
every exception is ours. Anything but a ``DicomDecodeError`` is a finding: libFuzzer
stops, writes the input to ``crash-*`` (``-artifact_prefix``) and the nox session fails.

    python -m fuzz.atheris_target CORPUS_DIR -max_total_time=120   # fuzz (atheris)
    python -m fuzz.atheris_target --replay DIR_OR_FILE...          # run inputs once
                                                                   # (coverage, tests)

Found inputs are minimised (``-minimize_crash=1``) and kept in ``fuzz/regressions/``,
where ``tests/test_fuzz_regressions.py`` replays them.
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

# a small budget: the guard must refuse a declared size before allocating it, and an
# input of a few KB never needs more (libFuzzer's -rss_limit_mb backs this up)
os.environ.setdefault("DICOMDECODE_MAX_BYTES", str(64 << 20))

_TMP = Path(os.environ.get("FUZZ_TMP", "/dev/shm" if os.path.isdir("/dev/shm") else
                           tempfile.gettempdir())) / f"dd-atheris-{os.getpid()}.dcm"


def _imports() -> None:
    """Import the code under test (inside atheris.instrument_imports when fuzzing)."""
    import dicomdecode.decode  # noqa: F401
    import dicomdecode.decode.validate  # noqa: F401
    import dicomdecode.read.codestream  # noqa: F401
    import dicomdecode.read.dataset  # noqa: F401
    import dicomdecode.read.frames  # noqa: F401
    import dicomdecode.read.header  # noqa: F401
    import dicomdecode.scan.walk  # noqa: F401


def one_input(data: bytes) -> None:
    """Every road of the reading layer on `data`; only DicomDecodeError may come out."""
    from dicomdecode.decode import decode
    from dicomdecode.errors import DicomDecodeError
    from dicomdecode.scan.walk import scan_one

    _TMP.write_bytes(data)
    path = str(_TMP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scan_one(path)  # returns a Skip for anything it cannot use; never raises
        for source in (path, data):
            try:
                decode(source, handlers="native")
            except DicomDecodeError:
                pass


def replay(paths: list[str]) -> int:
    """Run each input (files, or every file under a folder) once; the count run."""
    _imports()
    count = 0
    for name in paths:
        target = Path(name)
        files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() \
            else [target]
        for file in files:
            one_input(file.read_bytes())
            count += 1
    return count


def main(argv: list[str]) -> None:
    if argv[1:2] == ["--replay"]:
        print(f"replayed {replay(argv[2:])} input(s), no finding")
        return
    import atheris

    with atheris.instrument_imports(include=["dicomdecode"]):
        _imports()
    atheris.Setup(argv, one_input)
    try:
        atheris.Fuzz()
    finally:
        _TMP.unlink(missing_ok=True)


if __name__ == "__main__":
    main(sys.argv)
