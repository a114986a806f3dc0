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
