"""Every LASTMILE_* variable the code reads is in the README's configuration table, so a new
variable cannot ship undocumented."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"LASTMILE_[A-Z0-9_]*[A-Z0-9]")


def names_read_by_python() -> dict[str, str]:
    """Names written as a whole string literal (``envint("LASTMILE_X", 1)``,
    ``os.environ.get("LASTMILE_X")``, ``default="LASTMILE_X"``); prose in docstrings and
    comments is not a read."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "lastmile").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            is_str = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_str and NAME.fullmatch(node.value):
                found.setdefault(node.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def names_read_by_scripts() -> dict[str, str]:
    """``$LASTMILE_X`` / ``${LASTMILE_X…}`` in the shell scripts, ``LASTMILE_X ?=`` in the Makefile."""
    found: dict[str, str] = {}
    reads = re.compile(
        r"\$\{?(" + NAME.pattern + r")|^(?:export )?(" + NAME.pattern + r") \?=", re.M
    )
    for path in [*sorted((ROOT / "scripts").glob("*.sh")), ROOT / "Makefile"]:
        for match in reads.finditer(path.read_text()):
            found.setdefault(match.group(1) or match.group(2), str(path.relative_to(ROOT)))
    return found


def names_documented() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `LASTMILE_")]
    return {name for row in rows for name in NAME.findall(row.split(" | ")[0])}


def test_the_scan_finds_the_variables_it_should():
    """The scans themselves work: known reads in settings.py, mail/conf.py, the CLI and demo.sh."""
    python, scripts = names_read_by_python(), names_read_by_scripts()
    for name in (
        "LASTMILE_PUBLIC_URL",
        "LASTMILE_ALERT_SENSITIVITY",
        "LASTMILE_MAIL_MAX_BYTES",
        "LASTMILE_IMAP_PASSWORD",
    ):
        assert name in python
    assert {"LASTMILE_DEMO_CUSTOMERS", "LASTMILE_SMTP_HOST", "LASTMILE_TEST_SERIAL"} <= set(scripts)
    assert "LASTMILE_PORT" in names_documented()


def test_every_variable_read_is_in_the_readme_configuration_table():
    read = {**names_read_by_scripts(), **names_read_by_python()}
    missing = {name: where for name, where in read.items() if name not in names_documented()}
    assert missing == {}, "add these to README.md's Configuration table"
