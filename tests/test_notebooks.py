"""The notebooks (``notebooks/*.py``, jupytext percent format) run top to bottom on a fresh
kernel: each is converted to a notebook and executed by nbclient with this Python and this
checkout's jaxnn first on the path, and any exception — a gradient check's ``assert``
among them — fails its test. Every notebook found is run (a glob, never a list); the
slower ones (``jaxnn: {tier: 2}`` in their jupytext header) only with ``JAXNN_TIER2=1``
(``make test-tier2``; ``.ci/run`` selects them with ``-k tier2``: each test's id ends in its
notebook's tier)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))
TIER2 = os.environ.get("JAXNN_TIER2") == "1"
TIMEOUT_S = 300  # per cell: a hung kernel fails the test instead of the whole suite


def tier(notebook) -> int:
    """1, or the ``jaxnn: {tier: N}`` of the notebook's header (2: the slower tier)."""
    return int(notebook.metadata.get("jaxnn", {}).get("tier", 1))


def execute(notebook, cwd: Path):
    """Run ``notebook`` on a new kernel of this Python (ipykernel's own ``python3`` spec is
    ``sys.executable``), with this checkout's jaxnn first on the kernel's path; raises
    ``nbclient.exceptions.CellExecutionError`` at the first cell that raises."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    client = nbclient.NotebookClient(notebook, timeout=TIMEOUT_S, kernel_name="python3",
                                      resources={"metadata": {"path": str(cwd)}})  # fmt: skip
    return client.execute(env=env)


def test_there_are_notebooks_and_each_checks_its_gradients():
    """One notebook per chapter, each with a three-way gradient check that asserts."""
    assert len(NOTEBOOKS) >= 1, "no notebooks/*.py found"
    for path in NOTEBOOKS:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# ---\n# jupyter:") or "# %%" in text, f"{path.name}: not percent"
        assert re.search(r"gradcheck\.check\w*\(", text), f"{path.name}: no gradient check"
        assert re.search(r"^\s*assert .*report\.ok", text, re.M), (
            f"{path.name}: its check does not assert"
        )


@pytest.mark.parametrize(
    "path", NOTEBOOKS, ids=[f"{p.stem}-tier{tier(jupytext.read(p))}" for p in NOTEBOOKS]
)
def test_notebook_runs_top_to_bottom(path, tmp_path):
    notebook = jupytext.read(path)
    if tier(notebook) == 2 and not TIER2:
        pytest.skip("a slower notebook: JAXNN_TIER2=1 (make test-tier2) runs it")
    execute(notebook, tmp_path)
    # the kernel imported this checkout's jaxnn: the first code cell prints its path
    outputs = [o.get("text", "") for c in notebook.cells if c.cell_type == "code"
               for o in c.get("outputs", []) if o.get("output_type") == "stream"]  # fmt: skip
    assert any(str(ROOT / "jaxnn") in text for text in outputs), "the kernel's jaxnn is not ours"


def test_a_failing_gradient_check_fails_the_notebook(tmp_path):
    """A planted bug: the same check on the right gradient passes (the first cell runs) and
    on one off by 1 % makes the second cell's ``assert`` raise, and the runner reports it: a
    notebook cannot pass with a failing check. One kernel for both."""
    check = (
        "g = logistic.grads(params, X, Y)\n"
        "g = {{'w': g['w'] * {scale}, 'b': g['b']}}\n"
        "report = gradcheck.check(lambda p: logistic.cost(p, X, Y), params, g)\n"
        "assert report.ok, report.format()\n"
        "print('cell {scale} passed')\n"
    )
    source = (
        "# %%\nimport jax.numpy as jnp\nfrom jaxnn import gradcheck, logistic\n"
        "X = jnp.arange(6.0).reshape(2, 3) / 6; Y = jnp.array([[0.0, 1.0, 1.0]])\n"
        "params = {'w': jnp.array([[0.3], [-0.2]]), 'b': jnp.array(0.1)}\n"
        f"# %%\n{check.format(scale=1.0)}# %%\n{check.format(scale=1.01)}"
    )
    notebook = jupytext.reads(source, fmt="py:percent")
    with pytest.raises(nbclient.exceptions.CellExecutionError, match="AssertionError"):
        execute(notebook, tmp_path)
    assert "cell 1.0 passed" in notebook.cells[1].outputs[0]["text"]
