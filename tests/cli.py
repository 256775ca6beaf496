"""Running the ``lastmile`` command as a real subprocess, for the tests of several apps."""

from __future__ import annotations

import subprocess
import sys


def lastmile(
    env: dict[str, str], *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``lastmile`` with ``env`` (the ``cli_env`` fixture: this test's database)."""
    return subprocess.run(
        [sys.executable, "-m", "lastmile.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        input=input,
        timeout=60,
    )
