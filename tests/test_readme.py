"""The README's quickstart runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [code] = re.findall(r"## Quickstart\n\n```python\n(.*?)```", readme, re.S)
    assert len(code.splitlines()) <= 20
    script = tmp_path / "quickstart.py"
    script.write_text(code, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "operation='update'" in result.stdout and "actor='operator'" in result.stdout
    assert (tmp_path / "quickstart.db").exists()


def test_demo_app_runs_and_prints_the_audit_trail(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", str(ROOT / "examples" / "machine_log.py"), "demo.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "audit trail" in result.stdout
    assert "operator-7" in result.stdout and "soft_delete" in result.stdout
