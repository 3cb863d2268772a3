"""Where every benchmark script writes its result: bench/results/<name>.md and .json."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, text: str, payload: Any) -> Path:
    """Write the Markdown report and its JSON data side by side; return the base path."""
    RESULTS.mkdir(exist_ok=True)
    base = RESULTS / name
    base.with_suffix(".md").write_text(text)
    base.with_suffix(".json").write_text(json.dumps(payload, indent=1))
    print(f"wrote {base}.md and .json", file=sys.stderr)
    return base
