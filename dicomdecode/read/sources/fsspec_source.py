"""Objects behind an fsspec URL (``s3://``, ``gs://``, ``az://``, ``https://``, ...).

fsspec is the ecosystem's standard (zarr, xarray, pandas pass ``storage_options`` the
same way); s3fs/gcsfs/adlfs come with extras. Credentials come from `storage_options` or
the library's usual chain (environment variables such as ``AWS_ACCESS_KEY_ID`` and
``AWS_ENDPOINT_URL``, config files, instance roles): we never read or store them."""

from __future__ import annotations

from typing import Any

from dicomdecode.read.sources.base import Transfer
from dicomdecode.read.sources.redact import redact
from dicomdecode.read.sources.retry import counted, timeout


def _with_timeouts(protocol: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` plus a per-request timeout and no hidden retries of the client's own
    (ours are bounded and counted), unless the caller set them."""
    opts = dict(options)
    if protocol in ("s3", "s3a"):
        config = dict(opts.get("config_kwargs") or {})
        config.setdefault("connect_timeout", timeout())
        config.setdefault("read_timeout", timeout())
        config.setdefault("retries", {"max_attempts": 1})
        opts["config_kwargs"] = config
    return opts


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for `url`."""
    import fsspec

    protocol = url.split("://", 1)[0].lower()
    options = _with_timeouts(protocol, storage_options or {})
    try:
        fs, path = fsspec.core.url_to_fs(url, **options)
    except ImportError as exc:
        raise ImportError(f"{redact(url)}: reading {protocol}:// URLs needs an fsspec "
                          f"backend ({exc}); pip install 'dicomdecode[remote]'") from None
    if hasattr(fs, "retries") and isinstance(getattr(fs, "retries", None), int):
        fs.retries = 1  # s3fs's own loop (5 tries, not configurable per call): ours counts
    return fs, path


class FsspecSource:
    """One object of an fsspec filesystem, read by range with retries."""

    def __init__(self, fs: Any, path: str, url: str, size: int, transfer: Transfer) -> None:
        self.fs = fs
        self.path = path
        self.url = url
        self._size = size
        self.transfer = transfer

    @property
    def name(self) -> str:
        return redact(self.url)

    def size(self) -> int:
        return self._size

    def read(self, start: int, end: int) -> bytes:
        """Bytes [start, end): retried, counted; a short body is an error (and retried)."""
        end = min(end, self._size)
        if end <= start:
            return b""

        def fetch() -> bytes:
            data = bytes(self.fs.cat_file(self.path, start=start, end=end))
            if len(data) != end - start:
                raise OSError(f"truncated body: {len(data)} of {end - start} bytes")
            return data

        return counted(self.url, fetch, self.transfer, len)


def list_objects(url: str, storage_options: dict[str, Any] | None,
                 transfer: Transfer) -> list[FsspecSource]:
    """Every object under `url` (a prefix, recursively, sorted) or the object itself."""
    fs, path = filesystem(url, storage_options)

    def listing() -> dict[str, Any]:
        found = fs.find(path, detail=True)
        if not found:
            info = fs.info(path)
            if info.get("type") == "file":
                found = {path: info}
        return dict(found)

    found = counted(url, listing, transfer)
    if not found:
        raise FileNotFoundError(f"no such object or prefix: {redact(url)!r}")
    sources = []
    for key in sorted(found):
        info = found[key]
        if info.get("type", "file") != "file":
            continue
        sources.append(FsspecSource(fs, key, fs.unstrip_protocol(key), int(info["size"]),
                                    transfer))
    return sources


__all__ = ["FsspecSource", "filesystem", "list_objects"]
