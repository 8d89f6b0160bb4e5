"""`.ci/run` must run the README's test command and pass its exit code through."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("code", [0, 2, 5])
def test_ci_run__passes_the_exit_code_of_make_test_through(tmp_path, code):
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    log = tmp_path / "calls"
    make = fake_bin / "make"
    make.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexit {code}\n')
    make.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", str(REPO / ".ci" / "run")], env=env, capture_output=True, check=False
    )
    assert result.returncode == code
    assert log.read_text().split() == ["test"]


def test_readme__shows_the_two_commands_first():
    readme = (REPO / "README.md").read_text()
    head = readme[: readme.index("\n## ", 1) if "\n## " in readme else len(readme)]
    assert "make demo" in head and "make test" in head
    assert shutil.which("bash")
