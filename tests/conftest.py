"""Shared fixtures: where the real-data corpus is, and how tests behave without it.

The corpus (``../shared/corpus`` from the project root, or ``DICOMDECODE_CORPUS``) is real
scanner data that a fresh clone does not have. Tests that need it skip with a reason,
except under ``DICOMDECODE_REQUIRE_CORPUS=1`` (set by CI), where its absence fails.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "test_data"


def corpus_path() -> Path:
    env = os.environ.get("DICOMDECODE_CORPUS")
    return Path(env) if env else ROOT.parent / "shared" / "corpus"


def corpus_required() -> bool:
    return os.environ.get("DICOMDECODE_REQUIRE_CORPUS", "") not in ("", "0", "false", "no")


def _corpus_or_skip() -> Path:
    path = corpus_path()
    if (path / "MANIFEST.tsv").is_file():
        return path
    message = f"real-data corpus not found at {path} (set DICOMDECODE_CORPUS)"
    if corpus_required():
        pytest.fail(f"DICOMDECODE_REQUIRE_CORPUS is set but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def corpus() -> Path:
    """Path of the real-data corpus; skips (or fails in CI) when absent."""
    return _corpus_or_skip()


def read_tsv(name: str) -> list[dict[str, str]]:
    """Rows of one of the corpus index files, or [] when the corpus is absent.

    Used at collection time for parametrisation; the ``corpus`` fixture does the skipping.
    """
    path = corpus_path() / name
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def corpus_params(rows: list[dict[str, str]], key: str) -> list:
    """pytest params from rows, with one placeholder param when the corpus is absent,
    so the test still runs once and the ``corpus`` fixture skips or fails it."""
    if not rows:
        return [pytest.param(None, id="no-corpus")]
    return [pytest.param(r, id=r[key]) for r in rows]


# --- optional handlers ---------------------------------------------------------------
# Mark a test `@pytest.mark.needs_handler("gdcm")` when it needs that decoder library.
# nox sessions set DICOMDECODE_EXPECT_HANDLERS to the handlers they install: a test needing
# one the session deliberately leaves out is deselected (not counted), while a handler the
# session expects but cannot import fails the test. Without the variable, such tests skip.


def fully_installed_handlers() -> set[str]:
    """Handlers whose every library imports (pylibjpeg: both plugins)."""
    from dicomdecode.decode.handlers import HANDLERS

    return {
        name for name, handler in HANDLERS.items()
        if all(handler.supports(uid) for uid in handler.dependencies)
    }


def _expected_handlers() -> set[str] | None:
    value = os.environ.get("DICOMDECODE_EXPECT_HANDLERS")
    return {v.strip() for v in value.split(",") if v.strip()} if value else None


def _needed(item: pytest.Item) -> set[str]:
    return {name for mark in item.iter_markers("needs_handler") for name in mark.args}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _deselect_libraries(config, items)
    expected = _expected_handlers()
    if expected is None:
        return
    keep, drop = [], []
    for item in items:
        (drop if _needed(item) - expected else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    _check_libraries(item)
    if item.get_closest_marker("dask") and _expected_handlers() is None:
        # outside nox (no session variable) a missing dask skips; `nox -s tests_dask`
        # selects these with -m dask and there a missing dask fails the test
        try:
            import distributed  # noqa: F401
        except ImportError:
            pytest.skip('needs dask.distributed: pip install "dicomdecode[dask]"')
    missing = _needed(item) - fully_installed_handlers()
    if not missing:
        return
    if _expected_handlers() is not None:
        pytest.fail(f"this session expects handler(s) {sorted(missing)} but they do not import",
                    pytrace=False)
    pytest.skip(f"needs handler(s) {sorted(missing)}, not installed")


# --- optional interop libraries ---------------------------------------------------------
# Mark a test `@pytest.mark.needs_library("vtk")` when it needs a library that is no decoder
# (SimpleITK, vtk, dicom_numpy: the import name). As for handlers: nox sessions list in
# DICOMDECODE_EXPECT_LIBRARIES the ones they install; a test needing another is deselected,
# one the session expects but cannot import FAILS; without the variable such tests skip.


def _expected_libraries() -> set[str] | None:
    value = os.environ.get("DICOMDECODE_EXPECT_LIBRARIES")
    return {v.strip() for v in value.split(",") if v.strip()} if value is not None else None


def _libraries_needed(item: pytest.Item) -> set[str]:
    return {name for mark in item.iter_markers("needs_library") for name in mark.args}


def _deselect_libraries(config: pytest.Config, items: list[pytest.Item]) -> None:
    expected = _expected_libraries()
    if expected is None:
        return
    drop = [item for item in items if _libraries_needed(item) - expected]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if item not in drop]


def _check_libraries(item: pytest.Item) -> None:
    import importlib.util

    missing = sorted(name for name in _libraries_needed(item)
                     if importlib.util.find_spec(name) is None)
    if not missing:
        return
    if _expected_libraries() is not None:
        pytest.fail(f"this session expects {missing} but they do not import", pytrace=False)
    pytest.skip(f"needs {missing}, not installed")


def interpreted_source(relative: str) -> types.ModuleType:
    """The module at `relative` (a path in the repository, such as
    ``dicomdecode/read/rlecore.py``) loaded from its .py source as a plain Python module,
    never the compiled extension: the "interpreted" side of the compiled-core tests."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(f"_{path.stem}_interpreted", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
