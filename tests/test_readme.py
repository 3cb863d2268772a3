"""The README's Python examples run as written (from the repository root)."""

from __future__ import annotations

import os
import re

import pytest

from .conftest import ROOT

pytestmark = [pytest.mark.needs_handler("pylibjpeg", "gdcm", "charls"),
              pytest.mark.needs_library("SimpleITK", "vtk")]  # the "Coming from" blocks

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


# a block that runs on a Dask cluster needs the dask extra: it runs in `nox -s tests_dask`
@pytest.mark.parametrize("index", [
    pytest.param(i, marks=pytest.mark.dask) if "scheduler=" in block else i
    for i, block in enumerate(BLOCKS)])
def test_readme_python_block_runs(index, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    exec(compile(BLOCKS[index], f"README.md block {index}", "exec"), namespace)
    assert capsys.readouterr().out  # every example prints what it shows


def test_readme_has_examples():
    assert len(BLOCKS) >= 2
    assert os.path.exists(ROOT / "test_data" / "series")
