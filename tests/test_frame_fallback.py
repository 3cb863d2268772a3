"""A corrupt frame costs its own decoder choice, not its neighbours'.

Issue 20: a two-frame lossy JPEG whose second frame the first handler refused gave
different pixels in ``load`` (both frames went to the fallback handler) and in
``SliceDataset`` (frame 0 asked alone, decoded by the first handler): 6,601 pixels apart,
since lossy JPEG decoders differ in the last bit. Each frame now gets what it gets alone.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dicomdecode.decode import dispatch
from dicomdecode.errors import DecodeError
from dicomdecode.options import Options


def _fake(monkeypatch: pytest.MonkeyPatch, fails: dict[str, set[int]]) -> None:
    """Handler `name` writes its own number into a frame; raises on the frames in
    fails[name] (as a codec does on a corrupt codestream)."""

    def decode_with(handler, source, indices, options, out):
        for position, index in enumerate(indices):
            if index in fails[handler.name]:
                raise ValueError(f"{handler.name}: corrupt frame {index}")
            out[position] = {"a": 1, "b": 2}[handler.name]
        return "MONOCHROME2"

    monkeypatch.setattr(dispatch, "_decode_with", decode_with)


HANDLERS = [SimpleNamespace(name="a", may_abort=False), SimpleNamespace(name="b",
                                                                         may_abort=False)]
SOURCE = SimpleNamespace(path="f.dcm", transfer_syntax="1.2.840.10008.1.2.4.50")


def _decode(indices: list[int]) -> tuple[str, np.ndarray]:
    out = np.zeros((len(indices), 2, 2), np.uint8)
    name, _ = dispatch._decode_with_fallback(HANDLERS, SOURCE, indices, out,  # type: ignore[arg-type]
                                             Options.resolve())
    return name, out


def test_each_frame_gets_what_it_gets_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, {"a": {1}, "b": set()})
    name, together = _decode([0, 1, 2])
    alone = np.concatenate([_decode([i])[1] for i in range(3)])
    assert np.array_equal(together, alone)
    assert [int(f[0, 0]) for f in together] == [1, 2, 1]  # only frame 1 went to b
    assert name == "a+b"


def test_the_fast_path_stays_one_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, {"a": set(), "b": set()})
    name, out = _decode([0, 1])
    assert name == "a" and (out == 1).all()


def test_a_frame_no_handler_decodes_is_the_error_it_is_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, {"a": {1}, "b": {1}})
    with pytest.raises(DecodeError, match="corrupt frame 1") as together:
        _decode([0, 1])
    with pytest.raises(DecodeError) as alone:
        _decode([1])
    assert together.value.failures == alone.value.failures
