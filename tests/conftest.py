import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures" / "models"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_bridge(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args], capture_output=True, text=True, cwd=cwd or ROOT,
        env={**os.environ, **(env or {})}, timeout=timeout,
    )


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
