"""The package keeps the shape DESIGN.md draws: each fact and each byte parser in one place.

The import layering itself is checked by import-linter (`nox -s lint`, contracts in
pyproject.toml); these checks cover what it cannot see.
"""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dicomdecode"
TRANSFER_SYNTAX_TABLE = PACKAGE / "read" / "transfer_syntax.py"
# a transfer syntax UID: 1.2.840.10008.1.2 and its children (not SOP classes, 1.2.840.10008.5...)
UID_LITERAL = re.compile(r"""["']1\.2\.840\.10008\.1\.2(\.[0-9.]+)?["']""")
# reading binary structure: only the reading layer does that
BYTE_PARSING = re.compile(r"struct\.unpack|unpack_from|\bfrom_bytes\(|struct\.iter_unpack")


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_transfer_syntax_uids_only_in_the_table() -> None:
    offenders = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
                 for path in _sources() if path != TRANSFER_SYNTAX_TABLE
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if UID_LITERAL.search(line)]
    assert not offenders, "transfer syntax UIDs outside read/transfer_syntax.py:\n" + \
        "\n".join(offenders)


def test_byte_parsing_only_in_the_reading_layer() -> None:
    offenders = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
                 for path in _sources() if "read" not in path.relative_to(PACKAGE).parts[:1]
                 for n, line in enumerate(path.read_text().splitlines(), 1)
                 if BYTE_PARSING.search(line)]
    assert not offenders, "byte parsing outside dicomdecode/read/:\n" + "\n".join(offenders)


def test_the_checks_see_what_they_look_for() -> None:
    """The patterns match the forms they are meant to forbid (so a pass means something)."""
    assert UID_LITERAL.search('x = "1.2.840.10008.1.2.4.50"')
    assert UID_LITERAL.search("x = '1.2.840.10008.1.2'")
    assert not UID_LITERAL.search('sop = "1.2.840.10008.5.1.4.1.1.7"')
    assert BYTE_PARSING.search("a, = struct.unpack('<I', b)")
    assert BYTE_PARSING.search("int.from_bytes(head[:2], 'little')")
    assert (TRANSFER_SYNTAX_TABLE.exists()
            and UID_LITERAL.search(TRANSFER_SYNTAX_TABLE.read_text()))
