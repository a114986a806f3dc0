import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_homework_smoke_on_digits(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "homework_mlp.py"), "--dataset", "digits",
         "--hidden-units", "16", "--epochs", "1", "--batch-size", "100", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["layers"] == [64, 16, 10]
    assert metrics["notes_reference"]["test_accuracy"] == 0.935
    assert (tmp_path / "cost.png").exists() and (tmp_path / "config.json").exists()
