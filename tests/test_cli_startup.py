"""`dicomdecode --version` / `--help` start without the heavy libraries (issue 12: < 0.2 s).

Timing itself is not asserted (CI machines vary); what makes it slow is: which modules a
fresh interpreter has imported after the command, checked in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

HEAVY = ("numpy", "pydicom", "nibabel", "scipy", "tqdm", "zarr", "dicomdecode.decode",
         "dicomdecode.scan", "dicomdecode.writers", "dicomdecode.read")

_PROBE = """
import json, sys
from dicomdecode.apps.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_import_nothing_heavy(argv: list[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    probe = json.loads(result.stderr.strip().splitlines()[-1])
    assert probe["code"] == 0 and result.stdout.strip()
    loaded = [m for m in probe["modules"] if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert not loaded, f"{argv} imported {loaded}"


def test_package_functions_stay_functions_after_submodule_import() -> None:
    """`decode` and `scan` are both submodules and functions: the lazy package keeps the
    functions bound whichever is imported first."""
    code = ("import dicomdecode, importlib; importlib.import_module('dicomdecode.scan.walk');"
            "importlib.import_module('dicomdecode.decode.dispatch');"
            "print(callable(dicomdecode.scan), type(dicomdecode.decode).__name__,"
            " dicomdecode.decode_frames is dicomdecode.decode_file)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.split() == ["True", "function", "True"], out.stderr


_BLAS_PROBE = """
import json, os, sys
from dicomdecode.apps.cli import main
assert "numpy" not in sys.modules
code = main(sys.argv[1:])
print(json.dumps({"code": code, "numpy": "numpy" in sys.modules,
                  "blas": os.environ.get("OPENBLAS_NUM_THREADS")}), file=sys.stderr)
"""


@pytest.mark.parametrize("user_value", [None, "3"])
def test_cli_asks_openblas_for_one_thread_before_numpy_loads(user_value: str | None) -> None:
    """OpenBLAS reads OPENBLAS_NUM_THREADS when numpy loads it: the command sets it to 1
    before its first numpy import (its BLAS work is 4x4 geometry; idle OpenBLAS threads
    spin on the cores the decoders need), and keeps a value the user chose."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    env["PYTHONPATH"] = str(ROOT)
    if user_value is not None:
        env["OPENBLAS_NUM_THREADS"] = user_value
    result = subprocess.run([sys.executable, "-c", _BLAS_PROBE, "scan", "test_data/series"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    probe = json.loads(result.stderr.strip().splitlines()[-1])
    assert probe["code"] in (0, 1) and probe["numpy"], result.stderr[-2000:]
    assert probe["blas"] == (user_value or "1")


def test_the_console_entry_exits_with_mains_code_and_writes_everything(tmp_path) -> None:
    """``python -m dicomdecode`` (the console script's ``run``: main, then a teardown
    without the final cyclic collections) exits with main's code, and a convert it ran
    left complete files: byte for byte those the library's convert writes in this
    process, its report parsing."""
    import dicomdecode

    from .test_ml import write_series

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    usage = subprocess.run([sys.executable, "-m", "dicomdecode", "no-such-command"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2
    src = tmp_path / "src"  # uncompressed (pydicom-written): every session decodes it
    write_series(src / "ct", n=6, rows=32, cols=24)
    write_series(src / "ct2", n=5, rows=16, cols=16, seed=3)
    report = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "dicomdecode", "convert", "-q", "--report",
                           str(report), str(src), str(tmp_path / "cli")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(report.read_text())["files"]
    assert dicomdecode.convert(src, tmp_path / "lib").exit_code == 0
    written = sorted(p.relative_to(tmp_path / "lib") for p in (tmp_path / "lib").rglob("*")
                     if p.is_file() and ".dicomdecode" not in p.parts)
    assert any(p.name.endswith(".nii.gz") for p in written)
    for rel in written:
        ours = (tmp_path / "cli" / rel).read_bytes()
        theirs = (tmp_path / "lib" / rel).read_bytes()
        assert ours == theirs, rel
