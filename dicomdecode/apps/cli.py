"""The ``dicomdecode`` command.

Subcommands: ``convert`` (the main job), ``scan`` (what would be converted), ``preview``
(PNG of mid-slices), ``handlers`` (transfer syntax x handler table), ``info`` (one file).
Exit codes: 0 all good, 1 some input failed, 2 usage error (bad option, missing source).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from dicomdecode import __version__
from dicomdecode.errors import DicomDecodeError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _rescale(value: str) -> str | bool:
    v = value.strip().lower()
    if v == "auto":
        return "auto"
    if v in ("true", "yes", "1", "on", "float"):
        return True
    if v in ("false", "no", "0", "off", "none", "stored"):
        return False
    raise argparse.ArgumentTypeError("--rescale must be auto, true or false")


def _handlers(value: str) -> str:
    from dicomdecode.options import parse_handlers

    try:
        names = parse_handlers(value, source="--handlers")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return ",".join(names or ())


def _whole_number(flag: str) -> Callable[[str], int]:
    """An argparse type for `flag`: a whole number >= 1, with the flag in its message."""
    def parse(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} needs a whole number, not {value!r}") from None
        if n < 1:
            raise argparse.ArgumentTypeError(f"{flag} must be at least 1, not {n}")
        return n
    parse.__name__ = flag.lstrip("-")  # argparse names the type in some messages
    return parse


def _compress_level(value: str) -> int:
    """An argparse type for --compress-level: ISA-L's 0..3 (kept here, not imported from
    the writers, so building the parser stays cheap; WriteOptions checks it again)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--compress-level needs a whole number, not {value!r}") from None
    if not 0 <= n <= 3:
        raise argparse.ArgumentTypeError(f"--compress-level must be 0..3 (3 smallest), not {n}")
    return n


def _format(value: str) -> str:
    """An argparse type for --format, checked against the writers only when a command runs
    (importing them at parser build time would load numpy for ``--version``)."""
    from dicomdecode.writers import FORMATS

    if value not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {value!r} (choose from {', '.join(FORMATS)})")
    return value


def _decode_flags() -> argparse.ArgumentParser:
    """The Options every reading subcommand takes (one definition, one meaning)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--handlers", type=_handlers, default=None, metavar="LIST",
                        help="decoders to use, in order, e.g. gdcm,pylibjpeg "
                             "(default: DICOMDECODE_HANDLERS or the measured order)")
    common.add_argument("--rescale", type=_rescale, default="auto", metavar="auto|true|false",
                        help="apply Rescale Slope/Intercept: auto (smallest exact dtype from "
                             "the header), true (float32), false (stored values); default auto")
    common.add_argument("--philips-scaling", choices=("precise", "display"), default="precise",
                        help="Philips MR values: precise floating point (as dcm2niix, "
                             "default) or the display Rescale Slope/Intercept")
    common.add_argument("--invert-monochrome1", action="store_true",
                        help="mirror MONOCHROME1 values so that higher means brighter")
    common.add_argument("--mask-padding", action="store_true",
                        help="Pixel Padding Value voxels become NaN (float32 output)")
    common.add_argument("--keep-color", action="store_true",
                        help="keep YCbCr data as stored instead of converting it to RGB")
    common.add_argument("--max-bytes", type=_whole_number("--max-bytes"), default=None,
                        metavar="N", help="refuse to decode a file or series needing more "
                        "memory than N bytes (default: DICOMDECODE_MAX_BYTES or half the "
                        "available memory)")
    common.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="seconds one file may take in a worker process before it "
                             "fails as hung (default: DICOMDECODE_TIMEOUT or 300)")
    return common


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`dicomdecode.Options` keywords the decode flags set."""
    return {"handlers": args.handlers, "rescale": args.rescale,
            "philips_scaling": args.philips_scaling,
            "invert_monochrome1": args.invert_monochrome1, "mask_padding": args.mask_padding,
            "convert_color": not args.keep_color, "max_bytes": args.max_bytes,
            "timeout": args.timeout}


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree (exposed for docs and tests). It imports nothing heavy: the
    subcommands import what they need when they run, so ``--version`` and ``--help`` start
    in a tenth of a second."""
    parser = argparse.ArgumentParser(
        prog="dicomdecode",
        description="DICOM files, compressed or not, from any vendor, into correct arrays.")
    parser.add_argument("--version", action="version", version=f"dicomdecode {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    common = _decode_flags()

    p = sub.add_parser("convert", parents=[common], help="convert a folder or file",
                       description="Convert every series under SRC into DST, one output "
                       "per series (or per file for --format dicom), and account for every "
                       "input file (converted, skipped or failed) in the summary and report.")
    p.add_argument("src", metavar="SRC", help="a DICOM file or a folder (searched recursively), "
                   "or a URL: s3://bucket/prefix/, gs://..., https://... (any fsspec URL)")
    p.add_argument("dst", metavar="DST", help="output folder (created if needed)")
    p.add_argument("--format", "-f", type=_format, default="nifti", metavar="FORMAT",
                   help="nifti (.nii.gz + .json), npy (+ .json), npz, zarr (one array per "
                        "series), dicom (each file uncompressed); default nifti")
    p.add_argument("--workers", "-j", type=_whole_number("--workers"), default=None,
                   help="CPUs to use: processes for several series, threads for one "
                        "(default: DICOMDECODE_WORKERS or all CPUs)")
    p.add_argument("--strict", action="store_true",
                   help="fail a series on any inconsistency instead of warning")
    p.add_argument("--report", metavar="PATH", default=None,
                   help="write a JSON report of every input file")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="keep outputs whose source files did not change since they were "
                            "written (status kept) and rewrite the others")
    again.add_argument("--force", action="store_true", help="overwrite outputs that exist")
    p.add_argument("--allow-partial", action="store_true",
                   help="write a series some of whose slices could not be decoded without "
                        "them (status partial); by default such a series fails")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.add_argument("--progress", action="store_true",
                   help="show the progress bar even when stderr is not a terminal")
    p.add_argument("--tilt-correct", action="store_true",
                   help="also write a gantry-tilt-corrected copy of tilted series (NAME_Tilt)")
    p.add_argument("--equalize-spacing", action="store_true",
                   help="also write an evenly resampled copy of series with uneven slice "
                        "gaps (NAME_Eq)")
    p.add_argument("--include-patient", action="store_true",
                   help="put Patient ID/Name in output names (off by default)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="run on a Dask cluster: tcp://host:port of a running scheduler, or "
                        "local:N to start N worker processes here (needs dicomdecode[dask])")
    p.add_argument("--storage-options", metavar="JSON", default=None, type=_storage_options,
                   help="options of the fsspec filesystem of a URL SRC, as a JSON object, e.g. "
                        "'{\"anon\": true}' (credentials: better the environment, "
                        "AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL, ...)")
    p.add_argument("--compress-level", type=_compress_level, default=None, metavar="N",
                   help="gzip level of .nii.gz: 0 (fastest) .. 3 (smallest), default 2 "
                        "(ISA-L, several threads, a standard gzip stream)")
    p.add_argument("--no-compress", action="store_true",
                   help="write .nii instead of .nii.gz (dcm2niix -z n)")
    compact = p.add_mutually_exclusive_group()
    compact.add_argument("--compact", dest="compact", action="store_const", const=True,
                         default=None,
                         help="also store npy/npz/zarr in the smallest exact dtype "
                              "(NIfTI always is, unless --no-compact)")
    compact.add_argument("--no-compact", dest="compact", action="store_const", const=False,
                         help="store NIfTI in load()'s dtype (e.g. int32 for CT) instead of "
                              "the smallest exact one")

    p = sub.add_parser("scan", help="list the series that convert would write, and skips",
                       description="Read headers only (no pixels) and list each series "
                       "convert would write, with the shape of its array, and every file "
                       "skipped with the reason.")
    p.add_argument("src", metavar="SRC", nargs="+")
    p.add_argument("--json", action="store_true", help="print the scan result as JSON")

    p = sub.add_parser("preview", parents=[common],
                       help="image of three orthogonal mid-slices per series",
                       description="Load every series under SRC and draw three orthogonal "
                       "mid-slices of each (windowed from the data), labelled with the "
                       "series, the window (C/W) and the patient direction of each edge, "
                       "into one image at OUT, in the format its suffix names (.png, .jpg, "
                       '.tiff...). Needs Pillow: pip install "dicomdecode[preview]".')
    p.add_argument("src", metavar="SRC")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--max-series", type=_whole_number("--max-series"), default=16,
                   help="draw at most this many series (default 16)")
    p.add_argument("--size", type=_whole_number("--size"), default=256,
                   help="panel size in pixels (default 256)")

    p = sub.add_parser("handlers", help="which decoder handles which transfer syntax",
                       description="One row per transfer syntax of the standard: the "
                       "decoders installed for it, in the order they are tried, and the pip "
                       "extra that adds one where none is installed.")
    p.add_argument("--json", action="store_true", help="print the table as JSON")

    p = sub.add_parser("info", help="header facts about one file's pixel data",
                       description="Transfer syntax, image size, bits, colour space and the "
                       "decoders that would be tried for one DICOM file (header only). "
                       "Without FILE: the version and whether the compiled core is in use.")
    p.add_argument("file", metavar="FILE", nargs="?")
    p.add_argument("--json", action="store_true", help="print the facts as JSON")

    p = sub.add_parser("index", help="scan once and save what data loaders need (JSON)",
                       description="Scan SRC once and save the series, the pixel offsets "
                       "and each file's size and modification time to INDEX, so "
                       "SliceDataset/SeriesDataset start without rescanning and notice "
                       "files that changed since.")
    p.add_argument("src", metavar="SRC", nargs="+")
    p.add_argument("index", metavar="INDEX")
    p.add_argument("-j", "--workers", type=_whole_number("--workers"), default=None,
                   help="processes for the scan (default: all CPUs)")
    return parser


def _err(message: str) -> None:
    print(f"dicomdecode: {message}", file=sys.stderr)


def _geometry_lines(series_rows: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    """One console line per converted series with a gantry tilt or uneven slice gaps (the
    volume keeps a sheared affine / the mean spacing; say how to get a resampled copy)."""
    from dicomdecode.apps.convert import CONVERTED

    lines = []
    for row in series_rows:
        notes = [w.split(": ", 1)[1] if w.startswith("series ") else w
                 for w in row.get("warnings", []) if "tilt" in w or "slice spacing" in w]
        if row.get("status") != CONVERTED or not notes:
            continue
        hint = []
        if any("tilt" in n for n in notes) and not args.tilt_correct:
            hint.append("--tilt-correct")
        if any("spacing" in n for n in notes) and not args.equalize_spacing:
            hint.append("--equalize-spacing")
        more = f" ({' / '.join(hint)} also write{'s' if len(hint) == 1 else ''} a resampled " \
               "copy)" if hint else ""
        lines.append(f"warning: series {row['name']}: {'; '.join(notes)}{more}")
    return lines


def _storage_options(text: str) -> dict[str, Any]:
    """--storage-options: a JSON object (argparse reports anything else)."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _cmd_convert(args: argparse.Namespace) -> int:
    from dicomdecode.apps.convert import convert, summary
    from dicomdecode.read.sources.base import is_url

    if not is_url(args.src) and not os.path.exists(args.src):
        _err(f"{args.src}: no such file or folder")
        return EXIT_USAGE
    remote = {"storage_options": args.storage_options} if is_url(args.src) else {}
    try:
        report = convert(args.src, args.dst, fmt=args.format, workers=args.workers, **remote,
                         strict=args.strict, force=args.force, resume=args.resume,
                         report_path=args.report,
                         progress=False if args.quiet else (True if args.progress else None),
                         include_patient=args.include_patient,
                         allow_partial=args.allow_partial,
                         tilt_correct=args.tilt_correct,
                         equalize_spacing=args.equalize_spacing, scheduler=args.scheduler,
                         compress=not args.no_compress, compress_level=args.compress_level,
                         compact=args.compact, **options_from_args(args))
    except (ValueError, OSError, ImportError) as exc:  # bad options, DST not a folder, no dask
        _err(str(exc))
        return EXIT_USAGE
    if not args.quiet:
        for line in failure_lines(report) + _geometry_lines(report.series, args):
            print(line, file=sys.stderr)
        print(summary(report), file=sys.stderr)
    if not report.series:
        # nothing to convert is not success: a wrong SRC should not look like a done job
        _err(f"no DICOM image found under {report.source} ({len(report.files)} file(s), none an "
             "image)")
        return EXIT_FAILED
    return report.exit_code


def failure_lines(report: Any) -> list[str]:
    """What went wrong, for people: one line for all outputs that exist, one per failed or
    partial series, one per file that failed on its own (each path named once)."""
    from dicomdecode.apps.convert import FAILED, OUTPUT_EXISTS, PARTIAL

    lines: list[str] = []
    existing = report.existing
    if existing:
        what = "file(s)" if report.format == "dicom" else "series"
        lines.append(f"not rewritten: {len(existing)} {what} already have outputs in "
                     f"{report.destination} (e.g. {existing[0]}); use --resume to keep "
                     "those whose sources did not change, or --force to overwrite")
    said: dict[str, str] = {}  # series name -> the reason already printed
    for row in report.series:
        reason = str(row.get("reason", ""))
        if row.get("status") in (FAILED, PARTIAL) and reason and \
                not reason.startswith(OUTPUT_EXISTS):
            lines.append(f"{row['status']}: series {row['name']} ({row['files']} files): "
                         f"{reason}")
            said[str(row["name"])] = reason
    # files that failed on their own; those of one series failing for one reason (a
    # --strict check, say) share one line
    groups: dict[tuple[str | None, str], list[str]] = {}
    for f in report.files:
        if f.status != FAILED or f.reason.startswith(OUTPUT_EXISTS):
            continue
        reason = f.reason[len(f.path) + 2:] if f.reason.startswith(f"{f.path}: ") else f.reason
        if any(reason in said.get(name, "") for name in f.all_series):
            continue  # its series' line says it
        groups.setdefault((f.series, reason), []).append(f.path)
    for (series, reason), paths in groups.items():
        if series and len(paths) > 1:
            lines.append(f"failed: series {series} ({len(paths)} files): {reason}")
        else:
            lines.extend(f"failed: {path}: {reason}" for path in paths)
    return lines


def _cmd_scan(args: argparse.Namespace) -> int:
    from dicomdecode.apps.naming import series_name
    from dicomdecode.scan import scan

    missing = [s for s in args.src if not os.path.exists(s)]
    if missing:
        _err(f"{missing[0]}: no such file or folder")
        return EXIT_USAGE
    result = scan(args.src if len(args.src) > 1 else args.src[0])
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        print()
        return EXIT_OK
    rows = [("series", "modality", "files", "shape", "kind", "description")]
    for s in result.series:  # shape: the array load_series returns (mosaics untiled)
        rows.append((series_name(s), s.modality, str(len(s.files)),
                     "x".join(str(n) for n in s.shape), s.kind, s.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1])
    n_files = len({p for s in result.series for p in s.files})
    print(f"\n{len(result.series)} series from {n_files} files; {len(result.skipped)} skipped")
    for sk in result.skipped:
        print(f"skipped: {sk.path}: {sk.reason}")
    return EXIT_OK


def _cmd_preview(args: argparse.Namespace) -> int:
    from dicomdecode.apps.preview import image_format, preview
    from dicomdecode.options import Options

    if not os.path.exists(args.src):
        _err(f"{args.src}: no such file or folder")
        return EXIT_USAGE
    try:
        image_format(args.out)  # the suffix names the format: .png, .jpg, .tiff...
    except ImportError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except ValueError as exc:
        _err(str(exc))
        return EXIT_USAGE
    try:
        out, problems = preview(args.src, args.out, cell=args.size, max_series=args.max_series,
                                options=Options.resolve(None, **options_from_args(args)))
    except ValueError as exc:
        _err(str(exc))
        return EXIT_FAILED
    for p in problems:
        _err(p)
    print(out)
    return EXIT_FAILED if any(p.startswith("series ") for p in problems) else EXIT_OK


def _cmd_handlers(args: argparse.Namespace) -> int:
    from dicomdecode.decode.dispatch import handler_table

    table = handler_table()
    if args.json:
        json.dump(table, sys.stdout, indent=2)
        print()
        return EXIT_OK
    rows = [("UID", "name", "installed", "known", "note")]
    for r in table:
        note = ("lossy " if r.get("lossy") else "") + (
            f"install: {r['install_hint']}" if r.get("install_hint") else "")
        if not r.get("handlers_known"):
            note += "not decodable"
        rows.append((r["uid"], str(r["name"])[:48], ",".join(r["handlers_installed"]) or "-",
                     ",".join(r["handlers_known"]) or "-", note.strip()))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=False)) + "  " + row[4])
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from dicomdecode.apps.info import file_info, library_info

    if args.file is not None and not os.path.exists(args.file):
        _err(f"{args.file}: no such file")
        return EXIT_USAGE
    info: dict[str, Any] = library_info() if args.file is None else file_info(args.file)
    if args.json:
        json.dump(info, sys.stdout, indent=2, default=str)
        print()
    else:
        width = max((len(k) for k in info), default=0)
        for k, v in info.items():
            print(f"{k.ljust(width)}  {v}")
    return EXIT_OK


def _cmd_index(args: argparse.Namespace) -> int:
    from dicomdecode.apps.index import main_index

    missing = [s for s in args.src if not os.path.exists(s)]
    if missing:
        _err(f"{missing[0]}: no such file or folder")
        return EXIT_USAGE
    return main_index(args.src, args.index, workers=args.workers)


_COMMANDS = {"convert": _cmd_convert, "scan": _cmd_scan, "preview": _cmd_preview,
             "handlers": _cmd_handlers, "info": _cmd_info, "index": _cmd_index}


def _one_blas_thread() -> None:
    """Ask numpy's OpenBLAS for one thread in this command and its worker processes,
    unless the user chose a number (``OPENBLAS_NUM_THREADS``).

    The tool's only BLAS work is 3x3 and 4x4 geometry, but OpenBLAS starts a thread per
    CPU when numpy is imported, and those threads busy-wait for work for a while after the
    import and after every call: measured on 2 cores, ``import numpy`` took 0.19-0.23 CPU s
    against 0.11-0.15 with one thread, and a JPEG convert's CPU time fell 11% (paired
    medians), a core's worth of time the decoders and the gzip threads get back. It only
    takes effect when numpy is not imported yet (the console script imports it later)."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dicomdecode`` console script; returns the exit code."""
    _one_blas_thread()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for usage errors, 0 for --help/--version
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except DicomDecodeError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:  # `dicomdecode scan | head`
        return EXIT_OK


def run() -> NoReturn:
    """The console script and ``python -m dicomdecode``: :func:`main`, then a quicker exit.

    ``gc.freeze()`` before the interpreter's teardown: its final cyclic collections would
    otherwise walk every object numpy and this package made (about 200,000), 20 ms of a
    0.5 s convert (time from the last ``atexit`` hook to the process's end, 300-slice
    8-bit JPEG series, medians of 10: 33 -> 12 ms). Objects are still freed by reference
    counting and ``atexit`` hooks still run; only objects held in reference cycles at exit
    are left to the OS, whose finalizers Python never promises at exit anyway. Every file
    the tool writes is closed and moved into place before :func:`main` returns. Not done by
    :func:`main` itself, which tests and other programs call in their own process."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
