"""Would overlapping decode and gzip inside one series pay on this machine?

A probe, not the product: it measures the best case before anyone restructures convert.
``serial`` decodes the whole series (decode_stack, stored values) and then streams it
through the writer's gzip (or plain .nii) stream; ``chunked`` decodes chunks of ``--chunk``
images and writes each before decoding the next (no overlap: what chunking alone gives);
``overlap`` decodes chunks while a writer thread compresses the chunks already decoded (a
queue of two chunks: bounded memory). They alternate round by round (A B C, C B A, ...)
and each ratio to ``serial`` is taken round by round, then the median.

Usage:
  python bench/overlap_probe.py --syntaxes explicit jpegls --repeats 5 [--chunk 30] [--nii]
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"


def probe(src: Path, repeats: int, chunk: int, compress: bool) -> dict[str, float]:
    import dicomdecode
    from dicomdecode.decode.stack import decode_stack
    from dicomdecode.options import Options
    from dicomdecode.writers import WriteOptions
    from dicomdecode.writers.stream import open_output

    images = dicomdecode.scan(str(src)).series[0].images
    options, write = Options.resolve(None), WriteOptions()

    def serial(path: Path) -> None:
        stack, _ = decode_stack(images, options)
        flat = stack.reshape(stack.shape[0], -1)
        with open_output(path, write, compress) as fh:
            for k in range(0, len(flat), 16):
                fh.write(flat[k:k + 16].data)

    def chunked(path: Path) -> None:
        with open_output(path, write, compress) as fh:
            for k in range(0, len(images), chunk):
                part = decode_stack(images[k:k + chunk], options)[0]
                fh.write(part.reshape(part.shape[0], -1).data)

    def overlap(path: Path) -> None:
        chunks: queue.Queue = queue.Queue(maxsize=2)

        def writer() -> None:
            with open_output(path, write, compress) as fh:
                while (part := chunks.get()) is not None:
                    fh.write(part.reshape(part.shape[0], -1).data)

        thread = threading.Thread(target=writer)
        thread.start()
        for k in range(0, len(images), chunk):
            chunks.put(decode_stack(images[k:k + chunk], options)[0])
        chunks.put(None)
        thread.join()

    runs: dict[str, list[float]] = {"serial": [], "chunked": [], "overlap": []}
    order: list[tuple[str, Callable[[Path], None]]] = [
        ("serial", serial), ("chunked", chunked), ("overlap", overlap)]
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(repeats + 1):  # round 0: warm-up, not counted
            for name, fn in (order if round_ % 2 else order[::-1]):
                start = time.perf_counter()
                fn(Path(tmp) / f"{name}.nii.gz")
                if round_:
                    runs[name].append(time.perf_counter() - start)
    out = {f"{name}_s": statistics.median(times) for name, times in runs.items()}
    for name in ("chunked", "overlap"):
        out[f"{name}_ratio"] = statistics.median(
            t / s for t, s in zip(runs[name], runs["serial"], strict=True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--syntaxes", nargs="+", default=["explicit", "jpegls"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chunk", type=int, default=30)
    ap.add_argument("--nii", action="store_true", help="plain .nii instead of .nii.gz")
    args = ap.parse_args()
    for syntax in args.syntaxes:
        src = WORK / f"{syntax}_300"
        if not src.is_dir():
            print(f"{syntax}: no series at {src} (run bench/make_series.py)", file=sys.stderr)
            continue
        r = probe(src, args.repeats, args.chunk, not args.nii)
        print(f"{syntax} {'.nii' if args.nii else '.nii.gz'} chunk {args.chunk}: serial "
              f"{r['serial_s']:.2f} s, chunked {r['chunked_s']:.2f} s "
              f"({r['chunked_ratio']:.2f}x), overlap {r['overlap_s']:.2f} s "
              f"({r['overlap_ratio']:.2f}x)")


if __name__ == "__main__":
    main()
