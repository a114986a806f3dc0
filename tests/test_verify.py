import json

import pytest

from jaxnn import cli, verify

REQUIRED_IDS = """lr.dL_da lr.da_dz_printed lr.da_dz lr.dL_dz lr.dL_dw lr.dL_db lr.loop_dz_variant
lr.loop_J_variant lr.vectorized lr.mean_of_per_example graph.J_value graph.dJ_da graph.dJ_db
graph.dJ_dc graph.df_dx graph.df_dy graph.df_dz graph.norm_Wx act.sigmoid_prime
act.tanh_prime act.relu_prime act.linear_prime act.softmax_c2 two_layer.dz2 two_layer.dW2
two_layer.db2 two_layer.dz1 two_layer.dW1 two_layer.db1 two_layer.vectorized
softmax.loss_sign softmax.dl_df softmax.dl_da mlp.dl_dh mlp.dl_da mlp.dl_dW l2.grad
init.glorot_variance hinge.printed homework.accuracy vectorization.speedup""".split()

FAILS = {
    "lr.da_dz_printed", "lr.loop_dz_variant", "lr.loop_J_variant", "graph.dJ_dc",
    "graph.norm_Wx", "softmax.loss_sign", "mlp.dl_da", "mlp.dl_dW", "hinge.printed",
}  # fmt: skip
UNVERIFIED = {"homework.accuracy"}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """Every claim, with no homework run (a run in the checkout's runs/ would decide it)."""
    with pytest.MonkeyPatch.context() as patch:
        absent = tmp_path_factory.mktemp("no-run") / "metrics.json"
        patch.setattr(verify, "HOMEWORK_METRICS", str(absent))
        return {row["id"]: row for row in verify.run()}


def test_every_required_claim_is_reported(report):
    assert set(REQUIRED_IDS) <= set(report)
    for row in report.values():
        assert set(row) == {"id", "section", "claim", "status", "evidence", "correct"}
        assert row["status"] in ("holds", "fails", "unverified")


@pytest.mark.parametrize("claim_id", REQUIRED_IDS)
def test_pinned_verdict(report, claim_id):
    row = report[claim_id]
    if claim_id == "vectorization.speedup":  # a timing: the verdict is the machine's
        assert row["evidence"]["speedup"] > 1
        return
    expected = "fails" if claim_id in FAILS else "unverified" if claim_id in UNVERIFIED else "holds"
    assert row["status"] == expected, row["evidence"]
    if expected == "fails":
        assert row["correct"], "a failing claim gives the right formula"
        assert row["evidence"], "and its counterexample"


def test_cli_writes_claims_json(report, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(verify, "run", lambda: list(report.values()))  # evaluated once above
    out = tmp_path / "claims.json"
    assert cli.main(["verify-notes", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert {row["id"] for row in rows} >= set(REQUIRED_IDS)
    assert "fails" in capsys.readouterr().out


def test_markdown_lists_every_failure(report):
    text = verify.markdown(list(report.values()))
    for claim_id in FAILS:
        assert f"`{claim_id}`" in text


def test_homework_claim_reads_a_run(tmp_path, monkeypatch):
    metrics = tmp_path / "metrics.json"
    monkeypatch.setattr(verify, "HOMEWORK_METRICS", str(metrics))
    fn = next(fn for cid, _, _, fn in verify.CLAIMS if cid == "homework.accuracy")
    assert fn()[0] == "unverified"
    metrics.write_text(json.dumps({"dataset": "fashion_mnist", "epochs": 20,
                                   "test_accuracy": 0.88}))  # fmt: skip
    status, evidence, _ = fn()
    assert status == "unverified" and evidence["run"]["dataset"] == "fashion_mnist"
    metrics.write_text(json.dumps({"dataset": "mnist", "epochs": 20, "test_accuracy": 0.9371}))
    assert fn()[0] == "holds"
    metrics.write_text(json.dumps({"dataset": "mnist", "epochs": 20, "test_accuracy": 0.80}))
    assert fn()[0] == "fails"
    metrics.write_text(json.dumps({"dataset": "mnist", "epochs": 5, "test_accuracy": 0.93}))
    assert fn()[0] == "unverified"
    # a --seeds run: judged on the mean; the evidence names the run and every seed's figure
    metrics.write_text(json.dumps({"dataset": "mnist", "epochs": 20, "test_accuracy": 0.98,
                                   "test_accuracy_std": 0.001, "seeds": [0, 1],
                                   "test_accuracy_all": [0.979, 0.981]}))  # fmt: skip
    status, evidence, correct = fn()
    assert status == "fails" and evidence["run"]["metrics"] == str(metrics)
    assert (
        correct
        == "test accuracy 0.9800 ± 0.0010 (mean ± std over 2 seeds) with the printed settings"
    )
    row = {"id": "homework.accuracy", "claim": "c", "status": status, "evidence": evidence,
           "correct": correct}  # fmt: skip
    assert f"{metrics}: test accuracy 0.9800 (seeds [0, 1]: 0.9790, 0.9810)" in verify.markdown(
        [row]
    )


def test_readme_and_notes_page_quote_the_counts_a_checkout_prints(report):
    # Without the MNIST homework run (a fresh checkout) the command prints these counts; the
    # README said "34 hold, 10 fail" — the count with that run present.
    from pathlib import Path

    counts = {s: sum(r["status"] == s for r in report.values()) for s in ("holds", "fails")}
    unverified = sum(r["status"] == "unverified" for r in report.values())
    said = f"{counts['holds']} hold, {counts['fails']} fail"
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    assert f"| {said}, each failure with a counterexample, {unverified} unverified" in readme
    notes = (root / "docs" / "notes.md").read_text()
    assert f"prints {said}, {unverified} unverified" in notes
