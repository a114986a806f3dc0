"""docs/custom_layers.md runs: its Python blocks, in order, in one namespace (the worked
parametric ReLU: the passing check, the failing one, the summary and the training)."""

import contextlib
import io
import pathlib
import re

PAGE = pathlib.Path(__file__).parent.parent / "docs" / "custom_layers.md"


def test_the_page_code_runs_and_prints_what_the_page_shows():
    text = PAGE.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 6
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(PAGE), "exec"), namespace)  # noqa: S102
    printed = out.getvalue()
    # the tables the page shows are the ones the code prints (float rounding aside)
    assert "params.a (5, 1)         4.2e-01   4.2e-01" in printed
    assert "2,442 trainable parameters" in printed
    assert "fc1_prelu   parametric ReLU" in printed
    accuracy = float(re.search(r"test accuracy ([0-9.]+)", printed).group(1))
    assert accuracy > 0.9
