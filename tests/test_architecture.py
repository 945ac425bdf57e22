"""The layout keeps its promises: small modules, one way out to each tool.

The import contracts themselves are checked by `lint-imports` in `make test`
(pyproject.toml [tool.importlinter]); these are the rules a contract cannot express.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "ttal"
MAX_LINES = 400
SUBPROCESS = r"^\s*(import subprocess|from subprocess import)"
SQL = r"\.(execute|executemany|executescript)\("


def modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def where(path: Path) -> str:
    return str(path.relative_to(PKG.parent))


def offenders(pattern: str, allowed: set[str]) -> list[str]:
    regex = re.compile(pattern, re.M)
    return [where(p) for p in modules() if where(p) not in allowed and regex.search(p.read_text())]


def test_no_module_is_over_400_lines() -> None:
    long = {where(p): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}


@pytest.mark.parametrize(
    ("what", "pattern", "allowed"),
    [
        pytest.param(
            "subprocess",
            SUBPROCESS,
            {"ttal/adapters/proc.py"},
            id="every-subprocess-through-proc",
        ),
        pytest.param(
            "SQL",
            SQL,
            None,
            id="all-sql-in-store",
        ),
    ],
)
def test_one_way_out(what: str, pattern: str, allowed: set[str] | None) -> None:
    if allowed is None:  # a whole package
        allowed = {where(p) for p in (PKG / "adapters" / "store").rglob("*.py")}
    assert offenders(pattern, allowed) == [], f"{what} outside its adapter"


def test_the_checks_can_fail() -> None:
    """The patterns above match what they are meant to catch, and nothing innocent."""
    assert re.search(SUBPROCESS, "x = 1\n    import subprocess\n", re.M)
    assert re.search(SQL, "db.execute('select 1')")
    assert not re.search(SUBPROCESS, "# no subprocess here\nfrom ttal.adapters import proc", re.M)
    assert not re.search(SQL, "app.state.record_event(kind)")
