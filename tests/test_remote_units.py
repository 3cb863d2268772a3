"""The pieces of the remote road that need no server: URL redaction and the header
extent of a fetched prefix (checked against the header reader on the whole file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomdecode.read.header import read_fast_header
from dicomdecode.read.sources.base import is_url
from dicomdecode.read.sources.dicomweb import parse
from dicomdecode.read.sources.prefix import FIRST_BLOCK, header_extent
from dicomdecode.read.sources.redact import redact, redact_text


def test_redact_strips_userinfo_and_query() -> None:
    assert redact("https://user:pw@host:8443/a/b.dcm?X-Amz-Signature=abc#f") == \
        "https://host:8443/a/b.dcm"
    assert redact("s3://bucket/key.dcm") == "s3://bucket/key.dcm"
    assert redact("/local/path?x") == "/local/path?x"
    text = redact_text("GET https://u:secret@h/x?sig=s failed")
    assert "secret" not in text and "sig=" not in text and "https://h/x" in text


def test_is_url() -> None:
    assert is_url("s3://b/k") and is_url("dicomweb+http://h/r/studies/1")
    assert not is_url("/tmp/a.dcm") and not is_url("C:\\data\\a.dcm") and not is_url(b"s3://")


def test_dicomweb_url_parts() -> None:
    t = parse("dicomweb+http://127.0.0.1:8042/dicom-web/studies/1.2.3/series/4.5")
    assert (t.root, t.study, t.series) == ("http://127.0.0.1:8042/dicom-web", "1.2.3", "4.5")
    assert parse("dicomweb+https://h/studies/1.2").series is None
    with pytest.raises(ValueError, match="studies"):
        parse("dicomweb+http://h/root/series/1")


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["dcm_qa_ts/In/1.dcm", "dcm_qa_ts/In/2.dcm",
                                  "dcm_qa_ts/In/5.dcm", "dcm_qa_ts/In/9.dcm",
                                  "dcm_qa_enh/In/Siemens/XA10/6_1.dcm"])
def test_prefix_grows_until_the_pixel_element(corpus: Path, name: str) -> None:
    data = (corpus / name).read_bytes()
    reference = read_fast_header(str(corpus / name))
    assert reference is not None and reference.pixel_offset > 0
    n = FIRST_BLOCK
    while True:
        extent = header_extent(data[:n], len(data))
        if extent.need <= n or extent.whole:
            break
        assert extent.need > n  # it always asks for more, never loops in place
        n = extent.need
    assert not extent.whole
    assert extent.pixel_start is not None and extent.pixel_start > reference.pixel_offset
    assert n >= extent.pixel_start  # the whole header, up to the value, is in the prefix
    assert n < len(data) or len(data) <= 2 * reference.pixel_offset


@pytest.mark.corpus
def test_big_endian_is_fetched_whole(corpus: Path) -> None:
    data = (corpus / "dcm_qa_ts/In/3.dcm").read_bytes()  # explicit VR big endian
    assert header_extent(data[:FIRST_BLOCK], len(data)).whole
