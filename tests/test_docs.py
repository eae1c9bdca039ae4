"""The repository's documents agree with the code they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from localmup.compiler.check import check
from localmup.compiler.ir import load_spec
from localmup.reference import BEGIN, reference

ROOT = Path(__file__).resolve().parents[1]


def test_reference_tables_match_registry():
    text = (ROOT / "docs" / "reference.md").read_text()

    assert BEGIN in text
    assert text[text.index(BEGIN):] == reference()


def readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [line.strip() for line in lines[:12] if line.startswith("    ")]


def test_readme_starts_with_two_commands():
    commands = readme_commands()

    assert len(commands) == 2
    assert commands[0].endswith("localmup train specs/pc_mlp_mup.lmu")
    assert "pytest" in commands[1]


def test_ci_runs_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text()

    assert readme_commands()[1] in script


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks" / "transfer").glob("*.lmu")), ids=lambda p: p.stem)
def test_transfer_specs_check_as_named(path):
    report = check(load_spec(str(path)))

    assert report.stable == path.stem.endswith("_mup")
    assert report.mup == path.stem.endswith("_mup")
