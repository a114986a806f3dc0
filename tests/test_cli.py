import subprocess
import sys

from jaxnn import cli


def test_gradcheck_command_prints_table_and_exit_zero(capsys):
    rc = cli.main(
        [
            "gradcheck",
            "--model",
            "mlp",
            "--layers",
            "5,4,3",
            "--hidden",
            "tanh",
            "--output",
            "softmax",
            "--seed",
            "0",
            "--x64",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    for leaf in ("W1", "b1", "W2", "b2"):
        assert leaf in out


def test_bad_layers_is_one_line_error(capsys):
    rc = cli.main(["gradcheck", "--layers", "5,x,3"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "comma-separated integers" in err
    assert "Traceback" not in err


def test_console_script_runs_as_a_module():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "jaxnn.cli",
            "gradcheck",
            "--model",
            "logistic",
            "--layers",
            "4,1",
            "--x64",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "w " in result.stdout and "yes" in result.stdout


def test_help_names_the_families_and_ctrl_c_says_how_to_resume(tmp_path, capsys):
    import argparse

    from jaxnn import checkpoint

    help_text = cli.build_parser().format_help()
    assert "Feed-forward" not in help_text
    assert all(family in help_text for family in ("MLPs", "conv nets", "LSTM", "VAEs", "GANs"))
    args = argparse.Namespace(command="train", out=str(tmp_path))
    assert "no epoch was saved" in cli._resume_hint(args)
    (tmp_path / "checkpoints" / "3").mkdir(parents=True)
    (tmp_path / "checkpoints" / "3" / checkpoint.MANIFEST).write_text("{}")
    assert f"epoch 3 is saved: rerun the same command with --resume --out {tmp_path}" in (
        cli._resume_hint(args)
    )
    assert cli._resume_hint(argparse.Namespace(command="gradcheck")) == ""


def test_deterministic_sets_xlas_flag_before_the_command_runs(monkeypatch):
    import os

    seen = {}
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_enable_fast_math=false")
    from jaxnn.cli import train as train_command  # the subcommand's module

    monkeypatch.setattr(
        train_command, "cmd_train",
        lambda args: seen.setdefault("flags", os.environ["XLA_FLAGS"]) and 0,
    )  # fmt: skip
    assert cli.main(["train", "--deterministic"]) == 0
    assert seen["flags"] == "--xla_cpu_enable_fast_math=false --xla_gpu_deterministic_ops=true"


def test_summary_refuses_fewer_than_one_class(capsys):
    rc = cli.main(["summary", "--model", "resnet20", "--classes", "0"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "--classes must be ≥ 1; got 0" in err


def test_a_reader_that_stops_early_ends_the_command_quietly():
    # `jaxnn summary … | head`: the reader goes before the command writes (closing our end
    # at once, while the child still imports), so its first write meets a closed pipe.
    child = subprocess.Popen(
        [sys.executable, "-m", "jaxnn.cli", "summary", "--model", "resnet20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=120) == cli.BROKEN_PIPE_EXIT
    assert err == "", err
