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
