"""Every experiment runs on tiny settings and writes config.json, metrics.json and its plots."""

import importlib.util
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# conv/pool layers at their fixed forms: no compiling and timing of every form (conftest)
pytestmark = pytest.mark.usefixtures("untuned")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))  # the scripts' shared helpers (as when run)


def load(name):
    spec = importlib.util.spec_from_file_location(
        f"experiments_{name}", ROOT / "experiments" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"experiments_{name}"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


TINY = {
    "logistic_regression": dict(iterations=20),
    "vectorization": dict(n_x=256, m=3, repeats=1),
    "per_example_grads": dict(width=64, batch=10, jacobian_batches=(1, 2)),
    "planar_shallow": dict(hidden_sizes=(1, 4), epochs=30),
    "two_layer_random": dict(iterations=20),
    "activations": dict(layers=(64, 8, 10), epochs=2),
    "initialization": dict(layers=(64, 8, 10), epochs=2),
    "regularization": dict(l2_strengths=(0.0, 0.01), epochs=3),
    "linear_regression": dict(epochs=5),
    "hinge_vs_softmax": dict(epochs=2),
    # the two small awkward cases: the loop over cases is the same for LeNet-5's two
    "conv_backward": dict(
        repeats=1,
        batch=2,
        cases=(
            "stride 3 not dividing (13x13x4 -> 8, 3x3)",
            "even kernel same (12x12x3 -> 5, 4x4 /2)",
        ),
    ),
    "gradcheck_trust": dict(seeds=1, models="logistic", mutations="missing 1/m", dtypes="float64"),
    "rnn_memory": dict(lengths="5,10", hidden_size=4, n_x=2, batch=3),
    "adding": dict(
        datasets="adding", cells="lstm", seeds="0", epochs=1, hidden_size=4, batch_size=1000
    ),
    "char_lm": dict(
        cells="rnn",
        seeds="0",
        epochs=1,
        hidden_size=8,
        embed=4,
        batch_size=500,
        sample_length=20,
        temperatures="1.0",
    ),
    "rnn_mnist": dict(
        dataset="digits", cells="rnn", seeds="0", epochs=1, hidden_size=8, norm_examples=20
    ),
    "autoencoder": dict(datasets=("digits",), epochs=1, code=2, units=(8,)),
    "vae": dict(
        dataset="digits",
        latents=(2,),
        units=(8,),
        epochs=1,
        importance_samples=3,
        importance_examples=20,
    ),  # fmt: skip
    "gan": dict(  # one loss: the second runs the same code again
        dataset="digits",
        epochs=1,
        probe_steps=2,
        noise=2,
        generator=(8,),
        discriminator=(8,),
        losses=("minimax",),
    ),  # fmt: skip
    "batch_norm_mlp": dict(
        dataset="digits",
        depth=2,
        units=8,
        m_train=200,
        m_test=50,
        epochs=1,
        batch_size=50,
        lr=0.5,
        lrs=(0.5,),
    ),  # fmt: skip
    "resnet_gradients": dict(dataset="digits", depths=(8,), width=0.125, batch_size=4),
    "resnet_degradation": dict(
        dataset="digits", depths=(8,), width=0.125, m_train=128, m_eval=32, epochs=1, batch_size=64
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_experiment_smoke(name, tmp_path):
    module = load(name)
    config = module.Config(**TINY[name])
    metrics = module.main(config, str(tmp_path))
    assert metrics
    json.dumps(metrics, default=float)  # serializable
    assert list(tmp_path.glob("*.png")), "each experiment draws its plot"


def test_experiment_results_on_tiny_settings(tmp_path):
    lr = load("logistic_regression").main(load("logistic_regression").Config(iterations=50),
                                          str(tmp_path))  # fmt: skip
    assert lr["loop_vs_vectorized_params"] < 1e-5
    assert lr["optax_vs_vectorized_params"] < 1e-5
    per = load("per_example_grads")
    result = per.main(per.Config(width=64, jacobian_batches=(1,)), str(tmp_path))
    assert max(result["mean_of_per_example_vs_batch_relative_error"].values()) < 1e-5
    assert result["full_batch_jacobian"]["shape"] == [6400, 6400]
    two = load("two_layer_random")
    result = two.main(two.Config(iterations=50), str(tmp_path))
    assert result["max_hand_vs_autodiff_relative_error"] < 1e-12
    assert result["final_loss"] < result["initial_loss"]
    lin = load("linear_regression")
    result = lin.main(lin.Config(), str(tmp_path))
    assert result["linear_regression"]["sgd_vs_least_squares_relative_error"] < 1e-4
    assert result["logistic_regression"]["mlp_vs_logistic_relative_error"] < 1e-5


def test_experiment_command_line_writes_files(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "linear_regression.py"), "--epochs", "3",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "config.json").read_text())["epochs"] == 3
    assert "seconds" in json.loads((tmp_path / "metrics.json").read_text())


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


def test_homework_several_seeds_writes_the_spread(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "homework_mlp.py"), "--dataset", "digits",
         "--hidden-units", "8", "--epochs", "1", "--batch-size", "100", "--seeds", "0,1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "metrics.json").read_text())
    runs = [json.loads((tmp_path / f"seed-{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert summary["seeds"] == [0, 1]
    assert summary["test_accuracy_all"] == [run["test_accuracy"] for run in runs]
    assert summary["test_accuracy"] == pytest.approx(sum(summary["test_accuracy_all"]) / 2)
    assert "±" in result.stdout


def test_homework_refuses_files_that_are_not_mnist_with_exit_code_3(tmp_path):
    """Tiny IDX files are well-formed but not the canonical MNIST: refused, nothing trained."""
    folder = tmp_path / "fake"
    folder.mkdir()
    for name, shape in [
        ("train-images-idx3-ubyte", (4, 28, 28)),
        ("train-labels-idx1-ubyte", (4,)),
        ("t10k-images-idx3-ubyte", (2, 28, 28)),
        ("t10k-labels-idx1-ubyte", (2,)),
    ]:
        header = bytes([0, 0, 8, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
        (folder / name).write_bytes(header + bytes(int(np.prod(shape))))  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "homework_mlp.py"), "--manual-dir",
         str(folder), "--data-dir", str(tmp_path / "tfds"), "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "train-images-idx3-ubyte: not the canonical" in (
        result.stderr
    )
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert [path for path in (tmp_path / "tfds").rglob("*") if path.is_file()] == []


def test_lenet5_experiment_draws_its_pictures(digits16, tmp_path):
    module = load("lenet5")
    metrics = module.main(module.Config(dataset=digits16, epochs=1, batch_size=64), str(tmp_path))
    assert 0 <= metrics["test_accuracy"] <= 1
    for name in ("kernels.png", "feature_maps.png", "cost.png"):
        assert (tmp_path / name).exists()


def test_sdlm_lenet5_trains_reads_back_and_draws_the_distortions(digits16, tmp_path):
    """The paper's run on small settings: one pass of SDLM with distorted digits, the figure
    of the error per pass and the picture of the distortions; a finished seed is read back,
    not trained again."""
    module = load("sdlm_lenet5")
    config = module.Config(dataset=digits16, seeds=(0,), epochs=1, batch_size=64, lr=0.0005,
                           distort=0.15)  # fmt: skip
    metrics = module.main(config, str(tmp_path))
    assert 0 <= metrics["seed0_test_error_pct"] <= 100
    saved = json.loads((tmp_path / "seed0" / "config.json").read_text())
    assert saved["optimizer"] == "sdlm" and saved["model_options"]["distort"] == 0.15
    for name in ("test_error.png", "distortions.png"):
        assert (tmp_path / name).exists()
    mtime = (tmp_path / "seed0" / "metrics.json").stat().st_mtime
    assert module.main(config, str(tmp_path)) == metrics
    assert (tmp_path / "seed0" / "metrics.json").stat().st_mtime == mtime


def test_lenet5_recipe_chooses_on_validation_then_reports_the_test_set(digits16, tmp_path):
    """The search scores every candidate on the held-out split only (no test figure), the
    rule picks from those scores, and the final runs train on everything and report the
    test set for each seed; a finished run is read back, not trained again."""
    module = load("lenet5_recipe")
    config = module.Config(dataset=digits16, validation=200, epochs=1)
    found = module.main(config, str(tmp_path))
    assert set(found["scores"]) == set(module.CANDIDATES)
    assert found["chosen"] == module.choose(found["scores"])
    for name in module.CANDIDATES:
        metrics = json.loads((tmp_path / f"search-{name}" / "metrics.json").read_text())
        assert "validation_accuracy" in metrics and "test_accuracy" not in metrics
    final = module.main(module.Config(stage="final", dataset=digits16, validation=200,
                                      epochs=1), str(tmp_path))  # fmt: skip
    assert final["chosen"] == found["chosen"] and len(final["test_accuracy"]) == 3
    saved = json.loads((tmp_path / f"final-{final['chosen']}-seed2" / "config.json").read_text())
    assert saved["validation"] == 0 and saved["seed"] == 2
    assert module.choose({"A": 0.990, "B": 0.9905}) == "A"  # within the tie: the simpler
    assert module.choose({"A": 0.990, "B": 0.9915}) == "B"
