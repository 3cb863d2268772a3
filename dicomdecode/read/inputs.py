"""What a caller may hand us instead of a path: bytes, a binary file object, a pydicom Dataset.

Data that never was a file (a zip or tar member, an object-store download, a DICOMweb
response, a Dataset already in memory) goes through the same API as a path. Two roads:

* one item (``decode``/``decode_file``): read in memory with pydicom
  (:func:`dataset_of`) and decoded from the Dataset's pixel bytes: nothing is written;
* a list for ``scan``/``load`` (:func:`stage`): the items are written once to a private
  temporary folder, so that the header fast path, the by-offset pixel reads, the guard's
  file-size checks and the worker processes treat them exactly as files (bytes pickle,
  open file objects do not; a staged file does, and a worker that dies on it costs that
  file only). The folder is removed with the :class:`Staging` object (``load`` removes it
  when it returns; a ``scan`` result keeps it alive for ``load_series``).

Every item has a NAME for messages and reports: a path is its own name; a file object
its ``.name`` when that is a string (``zipfile.ZipFile.open`` and ``open`` set it); a
Dataset its ``filename`` when it has one (else ``"<dataset SOPInstanceUID>"`` alone);
anything else ``"<memory #N>"`` (N the item's
0-based position in the list). Staged files keep the name's last component, so errors
raised while decoding a staged item still say which member it was.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dicomdecode.errors import DecodeError, DicomDecodeError, NotDicomError
from dicomdecode.read.dataset import unknown_vrs_as_un

PathLike = str | os.PathLike[str]


def is_path(item: Any) -> bool:
    """True for a str or os.PathLike (the fast path: nothing else is looked at)."""
    return isinstance(item, str | os.PathLike)


def is_dataset(item: Any) -> bool:
    """True for a pydicom Dataset (checked without importing pydicom for paths)."""
    module = type(item).__module__
    if not module.startswith("pydicom"):
        return False
    from pydicom.dataset import Dataset

    return isinstance(item, Dataset)


def is_in_memory(item: Any) -> bool:
    """bytes-like, a binary file object, or a pydicom Dataset."""
    return (isinstance(item, bytes | bytearray | memoryview) or hasattr(item, "read")
            or is_dataset(item))


def name_of(item: Any, index: int | None = None) -> str:
    """The name an in-memory item carries in messages and reports (see module doc)."""
    if is_path(item):
        return os.fspath(item)
    label = getattr(item, "filename", None) if is_dataset(item) else getattr(item, "name", None)
    if isinstance(label, bytes):
        label = label.decode("utf-8", "replace")
    if isinstance(label, str) and label:
        return label
    uid = getattr(item, "SOPInstanceUID", None) if is_dataset(item) else None
    if uid and index is None:
        return f"<dataset {uid}>"
    return f"<memory #{index}>" if index is not None else "<memory>"


def _read_all(item: Any, name: str) -> bytes:
    """The bytes of a bytes-like or binary file object (read from its current position)."""
    if isinstance(item, bytes | bytearray | memoryview):
        return bytes(item)
    try:
        data = item.read()
    except OSError as exc:
        raise DecodeError(f"cannot read file object: {exc}", name) from exc
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"{name}: file object must be opened in binary mode "
                        f"(read() returned {type(data).__name__})")
    return bytes(data)


def dataset_of(item: Any, name: str) -> Any:
    """A pydicom Dataset of an in-memory item (a Dataset is returned as is).

    Typed errors as for files: NotDicomError when the bytes are not DICOM, DecodeError
    when they are truncated or unreadable."""
    if is_dataset(item):
        return item
    import warnings

    import pydicom
    from pydicom.errors import InvalidDicomError

    data = _read_all(item, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = unknown_vrs_as_un(pydicom.dcmread(io.BytesIO(data)), name)
            except InvalidDicomError:
                ds = unknown_vrs_as_un(pydicom.dcmread(io.BytesIO(data), force=True), name)
                if "SOPClassUID" not in ds and not ("Rows" in ds and "Columns" in ds):
                    raise NotDicomError("not DICOM (no DICM preamble and no DICOM dataset)",
                                        name) from None
    except DicomDecodeError:
        raise
    except Exception as exc:  # pydicom raises many kinds on corrupt data
        raise DecodeError(f"unreadable DICOM data: {type(exc).__name__}: {exc}", name) from exc
    if not getattr(ds, "filename", None):
        ds.filename = name
    return ds


def _bytes_of_dataset(ds: Any, name: str) -> bytes:
    """A Dataset as Part 10 bytes (its file meta and encoding kept)."""
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=False)
    except Exception as exc:
        raise DecodeError(f"cannot serialise dataset: {type(exc).__name__}: {exc}",
                          name) from exc
    return buffer.getvalue()


def _remove(folder: str, owner: int) -> None:
    """Remove the staging folder, only in the process that made it (a forked worker
    that drops its copy of the object must not delete the parent's files)."""
    if os.getpid() == owner:
        from dicomdecode.read.sources.mirror import forget

        forget(folder)
        shutil.rmtree(folder, ignore_errors=True)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Staging:
    """In-memory items written to a private folder; ``names`` maps staged path -> name.

    The folder is removed by :meth:`cleanup`, or when this object is garbage collected."""

    folder: str
    names: dict[str, str] = field(default_factory=dict)
    #: the remote objects' mirror (:class:`dicomdecode.read.sources.mirror.Mirror`), if any
    remote: Any = None

    def __post_init__(self) -> None:
        self._finalizer = weakref.finalize(self, _remove, self.folder, os.getpid())

    @property
    def transfer(self) -> dict[str, int] | None:
        """Requests and bytes the remote objects cost so far (None: nothing remote)."""
        return None if self.remote is None else self.remote.transfer.as_dict()

    @property
    def failed(self) -> list[tuple[str, str]]:
        """(redacted URL, reason) of remote objects that could not be fetched."""
        return [] if self.remote is None else sorted(self.remote.failed.items())

    def cleanup(self) -> None:
        self._finalizer()

    def display(self, path: str) -> str:
        """The user's name for a (possibly staged) path."""
        return self.names.get(path, path)

    def rename_error(self, exc: DicomDecodeError) -> None:
        """Name the user's items, not their staged copies, in `exc` (changed in place)."""
        exc.args = tuple(self.named(a) if isinstance(a, str) else a for a in exc.args)
        exc.reason = self.named(exc.reason)
        if exc.path is not None:
            exc.path = self.display(exc.path)
        paths = getattr(exc, "paths", None)
        if isinstance(paths, list):
            exc.paths = [self.display(p) for p in paths]  # type: ignore[attr-defined]

    def named(self, text: str) -> str:
        """`text` (a message) with every staged path replaced by the user's name."""
        for path, name in self.names.items():
            text = text.replace(path, name)
        return text


def stage(items: Sequence[Any], storage_options: dict[str, Any] | None = None
          ) -> tuple[list[str], Staging | None]:
    """`items` as paths: paths unchanged, in-memory items written to a staging folder,
    URLs (an object or a prefix: every object under it) mirrored there
    (:mod:`dicomdecode.read.sources.mirror`: headers now, pixels when needed).

    Returns the paths, in order, and the Staging (None when every item is a local path,
    so the path-only call costs one isinstance per item)."""
    from dicomdecode.read.sources.base import is_url

    if all(is_path(item) and not is_url(item) for item in items):
        return [os.fspath(item) for item in items], None
    staging = Staging(tempfile.mkdtemp(prefix="dicomdecode-memory-"))
    paths: list[str] = []
    for index, item in enumerate(items):
        if is_url(item):
            try:
                paths.extend(_mirror(item, index, staging, storage_options))
            except BaseException:
                staging.cleanup()
                raise
            continue
        if is_path(item):
            paths.append(os.fspath(item))
            continue
        if not is_in_memory(item):
            staging.cleanup()
            raise TypeError(f"item #{index}: expected a path, bytes, a binary file object or "
                            f"a pydicom Dataset, got {type(item).__name__}")
        name = name_of(item, index)
        data = (_bytes_of_dataset(item, name) if is_dataset(item)
                else _read_all(item, name))
        base = _UNSAFE.sub("_", os.path.basename(name.rstrip("/\\"))).strip("._") or "item"
        path = os.path.join(staging.folder, f"{index:06d}_{base}")
        with open(path, "wb") as fh:
            fh.write(data)
        staging.names[path] = name
        paths.append(path)
    return paths, staging


def _mirror(url: str, index: int, staging: Staging,
            storage_options: dict[str, Any] | None) -> list[str]:
    """Mirror every object under `url` into the staging folder; their local paths."""
    from dicomdecode.read.sources import dicomweb
    from dicomdecode.read.sources.fsspec_source import list_objects
    from dicomdecode.read.sources.mirror import Mirror
    from dicomdecode.read.sources.retry import RemoteReadError

    if staging.remote is None:
        staging.remote = Mirror(staging.folder)
    mirror = staging.remote
    try:
        sources: list[Any] = (
            dicomweb.list_instances(url, storage_options, mirror.transfer)
            if dicomweb.is_dicomweb(url) else list_objects(url, storage_options, mirror.transfer))
    except RemoteReadError as exc:
        raise FileNotFoundError(f"cannot list {exc}") from None
    local = mirror.add_all(sources, first_index=index * 1_000_000)
    paths = []
    for source, path in zip(sources, local, strict=True):
        if path is not None:
            staging.names[path] = source.name
            paths.append(path)
    return paths


__all__ = ["Staging", "dataset_of", "is_dataset", "is_in_memory", "is_path", "name_of",
           "stage"]
