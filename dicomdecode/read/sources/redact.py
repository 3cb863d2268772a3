"""URLs as they may be shown: no user name or password, no query string (which is where
presigned URLs carry their signature and tokens live)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact(url: str) -> str:
    """`url` without userinfo, query or fragment (a plain path is returned unchanged)."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def redact_text(text: str) -> str:
    """Every URL inside `text` (an exception message, say) redacted."""
    return _URL.sub(lambda m: redact(m.group(0)), text)


__all__ = ["redact", "redact_text"]
