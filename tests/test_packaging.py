"""The declared support matrix agrees with itself, and the lock file with the declared ranges
(issues #15, #16). Offline: reads pyproject.toml, requirements/lock.txt and the Makefile."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# installed on top of the lock, not in it: hardware-specific (bench, cuda12) or only for an
# interactive session (lab: `make notebooks`); the same list as .ci/lock's SKIP_EXTRAS
UNLOCKED_EXTRAS = {"bench", "cuda12", "lab"}
LOCKED_EXTRAS = sorted(set(PROJECT["optional-dependencies"]) - UNLOCKED_EXTRAS)
PYTHONS = [c.rsplit(":: ", 1)[1] for c in PROJECT["classifiers"] if "Python :: 3." in c]
# The environments the lock promises: Linux and macOS, every supported Python.
ENVIRONMENTS = [
    {"python_version": v, "python_full_version": f"{v}.0", "sys_platform": platform,
     "platform_system": system, "platform_machine": machine, "os_name": "posix",
     "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    for v in PYTHONS
    for platform, system, machine in (("linux", "Linux", "x86_64"), ("darwin", "Darwin", "arm64"))
]  # fmt: skip


def _lock() -> list[tuple[Requirement, list[str]]]:
    """(``name==version ; marker``, its hashes) per pinned package."""
    entries = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", (ROOT / "requirements/lock.txt").read_text()):
        if block.startswith("#"):
            continue
        head = block.split("\\", 1)[0].strip()
        entries.append((Requirement(head), re.findall(r"--hash=sha256:([0-9a-f]{64})", block)))
    return entries


def _pins(environment: dict) -> dict[str, Version]:
    return {
        canonicalize_name(req.name): Version(next(iter(req.specifier)).version)
        for req, _ in _lock()
        if req.marker is None or req.marker.evaluate(environment)
    }


def test_every_pin_is_exact_and_hashed():
    entries = _lock()
    assert len(entries) > 20
    for req, hashes in entries:
        assert [s.operator for s in req.specifier] == ["=="], req
        assert hashes, f"{req.name} has no hash"


def _name(environment: dict) -> str:
    return f"{environment['sys_platform']}-py{environment['python_version']}"


@pytest.mark.parametrize("environment", ENVIRONMENTS, ids=_name)
def test_the_lock_satisfies_the_declared_ranges(environment):
    """Regenerate with `make lock` when this fails (a range changed, or an extra was added)."""
    pins = _pins(environment)
    declared = [Requirement(line) for line in PROJECT["dependencies"]]
    for extra in LOCKED_EXTRAS:
        declared += [Requirement(line) for line in PROJECT["optional-dependencies"][extra]]
    for req in declared:
        if req.marker is not None and not req.marker.evaluate(environment):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared but not in requirements/lock.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"requirements/lock.txt pins {req.name}=={pins[name]}, outside {req}"
        )


def test_the_lock_holds_no_hardware_specific_package():
    names = {canonicalize_name(req.name) for req, _ in _lock()}
    assert not names & {"torch", "jax-cuda12-plugin", "jax-cuda12-pjrt", "nvidia-cublas-cu12"}
    assert "jupyterlab" not in names  # the lab extra: make notebooks installs it on top


def test_the_extras_left_out_of_the_lock_are_the_ones_make_lock_skips():
    skip = re.search(r'SKIP_EXTRAS=\$\{SKIP_EXTRAS:-"([^"]*)"\}', (ROOT / ".ci/lock").read_text())
    assert set(skip.group(1).split()) == UNLOCKED_EXTRAS


def test_python_support_is_declared_the_same_everywhere():
    floor = re.fullmatch(r">=(3\.\d+)", PROJECT["requires-python"]).group(1)
    minors = [int(v.split(".")[1]) for v in PYTHONS]
    assert PYTHONS[0] == floor and minors == list(range(minors[0], minors[-1] + 1))
    ruff = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]
    assert ruff["target-version"] == "py" + floor.replace(".", "")
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^PYTHONS \?= (.*)$", makefile, re.MULTILINE).group(1).split() == PYTHONS


def test_the_license_is_an_spdx_expression_and_types_ship():
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text().split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert (ROOT / "jaxnn/py.typed").exists()
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "py.typed" in setuptools["package-data"]["jaxnn"]


def test_the_package_face_shows_the_library_and_stays_light():
    """``import jaxnn`` exposes the models, the layers, the gradient check (with
    ``check_layer``) and the training entry point, and brings none of the training path's
    heavy libraries (orbax, grain, TFDS) until one is used."""
    code = (
        "import sys, jaxnn\n"
        "heavy = [m for m in ('orbax', 'grain', 'tensorflow_datasets', 'jaxnn.run') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(jaxnn.gradcheck.check_layer) and callable(jaxnn.models.build)\n"
        "assert callable(jaxnn.layers.conv2d) and callable(jaxnn.train_and_evaluate)\n"
        "assert jaxnn.TrainConfig().model == 'mlp'\n"
        "assert set(jaxnn.__all__) <= set(dir(jaxnn))\n"
        "assert 'feed-forward networks of the lecture notes' not in jaxnn.__doc__\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
