"""bench/table.py: one row per workload from the benches' JSON files, the target met or not."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("bench_table", ROOT / "bench" / "table.py")
table = importlib.util.module_from_spec(spec)
spec.loader.exec_module(table)


def _write(folder, name, payload):
    (folder / name).write_text(json.dumps(payload))


def test_rows_targets_and_docs(tmp_path):
    impls = {"jaxnn (hand)": {"epoch_seconds": 2.0, "compile_seconds": 9.0},
             "jaxnn (autodiff)": {"epoch_seconds": 2.5},
             "pytorch eager": {"epoch_seconds": 3.0}}  # fmt: skip
    _write(
        tmp_path,
        "rnn_results.json",
        {
            "what": "lstm",
            "results": impls,
            "date": "D",
            "versions": {"cpu": "C", "cpu_simd": "avx2 fma"},
        },
    )
    _write(tmp_path, "generative_results.json", {"what": "g", "results": {
        "vae: jaxnn (hand)": {"epoch_seconds": 4.0},
        "vae: pytorch eager": {"epoch_seconds": 3.0}}})  # fmt: skip
    mlp = {"jaxnn (hand)": {"train_seconds": 6.0}, "pytorch eager": {"train_seconds": 12.0}}
    _write(tmp_path, "results.json", {"epochs": 20, "workload": "w", "lower_bound_seconds": 5.0,
                                      "implementations": mlp})  # fmt: skip
    rows = {row["workload"].split(" (")[0]: row for row in table.rows(str(tmp_path))}
    assert rows["lstm"]["speed_vs_pytorch"] == 1.5 and rows["lstm"]["met"] is True
    assert rows["lstm"]["times"]["jaxnn (hand)"] == 2.0  # not the compile time
    assert rows["vae epoch"]["met"] is False  # 0.75x PyTorch
    # 2x PyTorch but 1.2x its bound: the MLP's second target is not met
    assert rows["MLP homework, 20 epochs"]["met"] is False
    text = table.markdown(list(rows.values()))
    assert "**not met**" in text and "| met |" in text and "vector flags: AVX2" in text
    docs = tmp_path / "page.md"
    docs.write_text(f"before\n{table.START}\nold\n{table.END}\nafter\n")
    assert table.update_docs(str(docs), text)
    assert docs.read_text() == f"before\n{table.START}\n{text}\n{table.END}\nafter\n"


def test_flop_bound_counts_the_steps_matmuls():
    """The LSTM, generative and Transformer rows' bound: XLA's FLOP count of one step. For an
    MLP 256-128-10 at batch 64 the step's matmuls are 2 · 64 · (2 · (256·128 + 128·10) +
    128·10) FLOPs (forward and dW of both layers, dA of the second: nothing needs dX);
    XLA's count holds them and little more (elementwise work, SGD)."""
    import sys

    import jax
    import numpy as np
    import optax

    from jaxnn import models, train

    sys.path.insert(0, str(ROOT / "bench"))
    import timing

    model = models.build("mlp", (256,), 10, layers=(256, 128, 10))
    params = model.init(jax.random.PRNGKey(0))
    X, Y = np.ones((256, 640), np.float32), np.eye(10, 640, dtype=np.float32)
    X_rows, Y_rows = train.device_rows(X, Y, 1)
    bound = timing.flop_bound(model, optax.sgd(0.1), params, X_rows, Y_rows, 64)
    matmuls = 2 * 64 * (2 * (256 * 128 + 128 * 10) + 128 * 10)
    assert matmuls <= bound["flops_per_step"] <= 1.1 * matmuls
    rate = bound["matmul_gflops"] * 1e9
    assert abs(bound["lower_bound_seconds"] - 10 * bound["flops_per_step"] / rate) < 1e-12
