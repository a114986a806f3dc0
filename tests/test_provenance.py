"""Runs record what produced them: versions in metrics.json (issue #15)."""

import json
from importlib import metadata

import jax

from jaxnn import provenance
from jaxnn.run import TrainConfig, train_and_evaluate


def test_versions_are_the_installed_ones():
    found = provenance.versions()
    for name in ("jax", "jaxlib", "optax", "numpy", "jaxnn"):
        assert found[name] == metadata.version(name), name
    assert found["jax"] == jax.__version__
    assert found["python"].count(".") == 2 and found["platform"] and found["cpu"]
    assert (
        found["cpu_simd"] == "unknown" or "avx" in found["cpu_simd"] or "asimd" in found["cpu_simd"]
    )
    assert all(isinstance(value, str) and value for value in found.values())
    json.dumps(found)


def test_a_missing_package_is_named_and_an_absent_plugin_left_out(monkeypatch):
    monkeypatch.setattr(provenance, "PACKAGES", ("jax", "no-such-distribution"))
    monkeypatch.setattr(provenance, "PLUGINS", ("another-missing-plugin",))
    found = provenance.versions()
    assert found["no-such-distribution"] == "not installed"
    assert "another-missing-plugin" not in found


def test_metrics_json_records_versions_and_device(tmp_path):
    config = TrainConfig(dataset="digits", layers=(64, 8, 10), batch_size=100, epochs=1)
    train_and_evaluate(config, str(tmp_path / "run"), progress=False)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["versions"] == provenance.versions()
    assert metrics["device"].startswith(jax.devices()[0].platform)
