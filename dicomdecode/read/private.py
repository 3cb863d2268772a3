"""Private tags through their private creator (PS3.5 7.8.1), never at a fixed element.

A private element (gggg,xxee) belongs to the block xx that its creator reserved with
(gggg,00xx) = "CREATOR NAME". Vendors usually reserve the same block, so code that reads
(2005,100E) works on most Philips files, and silently reads another vendor's element (or
misses the value) when the block is elsewhere. ``private_value(ds, 0x2005, "Philips MR
Imaging DD 001", 0x0E)`` finds the block first.

Works on pydicom datasets and sequence items (anything with ``get((group, element))``).
"""

from __future__ import annotations

from typing import Any

from dicomdecode.read.header import NeedsFullParse


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if isinstance(value, list | tuple):  # a multi-valued creator: take the first
        value = value[0] if value else ""
    return str(value).strip(" \x00")


def _creator_tags(ds: Any, group: int) -> list[tuple[int, Any]]:
    """(block, element) of every private creator element of ``group`` in ``ds``."""
    keys = getattr(ds, "keys", None)
    if keys is not None:  # a pydicom Dataset: one pass over its tags
        blocks = sorted(int(k) & 0xFF for k in keys()
                        if isinstance(k, int) and int(k) >> 16 == group
                        and 0x10 <= int(k) & 0xFFFF <= 0xFF)
    else:
        blocks = list(range(0x10, 0x100))
    out = []
    for block in blocks:
        try:
            elem = ds.get((group, block), None)
        except NeedsFullParse:  # the fast header view: the caller reads with pydicom
            raise
        except Exception:  # noqa: BLE001 - an unparsable creator is nobody's
            continue
        if elem is not None:
            out.append((block, elem))
    return out


def private_block(ds: Any, group: int, creator: str) -> int | None:
    """Block number (0x10..0xFF) that ``creator`` reserved in ``group`` of ``ds``, or None.

    Creator names compare without surrounding spaces and case-insensitively (vendors are
    not consistent with either)."""
    if group % 2 == 0:
        raise ValueError(f"group {group:04X} is not a private (odd) group")
    wanted = creator.strip().lower()
    for block, elem in _creator_tags(ds, group):
        if _text(getattr(elem, "value", elem)).lower() == wanted:
            return block
    return None


def private_tag(ds: Any, group: int, creator: str, element_offset: int,
                scope: Any = None) -> tuple[int, int] | None:
    """The tag (group, block << 8 | offset) of a private element, or None when ``creator``
    reserved no block.

    ``scope``: for a sequence item, the reservations that apply when the item reserves no
    block of ``group`` itself (some exports rely on the enclosing dataset's creators):
    the enclosing dataset, or its block number as :func:`private_block` gave it."""
    if not 0 <= element_offset <= 0xFF:
        raise ValueError(f"element offset {element_offset:#x} is not 0x00..0xFF")
    block = private_block(ds, group, creator)
    if block is None and scope is not None and not _reserves_any(ds, group):
        block = scope if isinstance(scope, int) else private_block(scope, group, creator)
    if block is None:
        return None
    return (group, (block << 8) | element_offset)


def private_value(ds: Any, group: int, creator: str, element_offset: int,
                  default: Any = None, *, scope: Any = None) -> Any:
    """Value of the private element ``element_offset`` in ``creator``'s block of ``group``,
    or ``default`` when the creator or the element is absent (``scope``: see
    :func:`private_tag`)."""
    tag = private_tag(ds, group, creator, element_offset, scope)
    if tag is None:
        return default
    try:
        elem = ds.get(tag, None)
    except NeedsFullParse:
        raise
    except Exception:  # noqa: BLE001 - a value that does not parse counts as absent
        return default
    if elem is None:
        return default
    return getattr(elem, "value", elem)


def _reserves_any(ds: Any, group: int) -> bool:
    return bool(_creator_tags(ds, group))


__all__ = ["private_block", "private_tag", "private_value"]
