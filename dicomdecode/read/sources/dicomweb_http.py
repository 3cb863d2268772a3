"""HTTP with a DICOMweb server through dicomweb-client's session (its authentication and
headers): the requests that :mod:`~dicomdecode.read.sources.dicomweb` (listing,
metadata) and :mod:`~dicomdecode.read.sources.dicomweb_header` (frames, instances) make.
Kept apart so that neither of those imports the other for them."""

from __future__ import annotations

from typing import Any

from dicomdecode.read.sources.redact import redact
from dicomdecode.read.sources.retry import timeout


class Refused(ValueError):
    """The server answered, but not with what was asked (not retried: asking again
    gets the same answer)."""


def client_for(root: str, options: dict[str, Any] | None) -> Any:
    """A dicomweb-client for the service at `root` (`options`: its keyword arguments)."""
    try:
        from dicomweb_client.api import DICOMwebClient
    except ImportError as exc:
        raise ImportError(f"DICOMweb URLs need dicomweb-client ({exc}); "
                          "pip install 'dicomdecode[remote]'") from None
    return DICOMwebClient(url=root, **(options or {}))


def get(client: Any, url: str, accept: str, *, stream: bool = False) -> Any:
    """One GET through the client's session (its authentication and headers), with the
    remote timeout; a 4xx other than 408/429 is :class:`Refused`, a 5xx raises (and is
    retried by the caller)."""
    response = client._session.get(url, headers={"Accept": accept}, stream=stream,
                                   timeout=timeout())
    status = response.status_code
    if 400 <= status < 500 and status not in (408, 429):
        response.close()
        if status == 404:
            raise FileNotFoundError(f"HTTP 404 for {redact(url)}")
        raise Refused(f"HTTP {status} for {redact(url)}")
    response.raise_for_status()
    return response


def multipart_parts(client: Any, response: Any) -> list[bytes]:
    """The bodies of a multipart/related answer (dicomweb-client's own parser)."""
    return list(client._decode_multipart_message(response, stream=False))


__all__ = ["Refused", "client_for", "get", "multipart_parts"]
