"""Shared fixtures: where the real-data corpus is, and how tests behave without it.

The corpus (``../shared/corpus`` from the project root, or ``DICOMDECODE_CORPUS``) is real
scanner data that a fresh clone does not have. Tests that need it skip with a reason,
except under ``DICOMDECODE_REQUIRE_CORPUS=1`` (set by CI), where its absence fails.
"""

from __future__ import annotations

import csv
import os
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
