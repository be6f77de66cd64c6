"""dvc.yaml must list every library module a stage runs, so a code change re-runs the right stages."""

import ast
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def luckybag_imports(path: Path) -> set[str]:
    """luckybag modules imported by ``path`` (at any depth of the file), as repo-relative paths."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            if name == "luckybag" or name.startswith("luckybag."):
                parts = name.split(".")
                module = ROOT.joinpath(*parts).with_suffix(".py")
                if module.exists():
                    found.add(str(module.relative_to(ROOT)))
                found.add("luckybag/__init__.py")
    return found


def closure(path: Path) -> set[str]:
    seen: set[str] = set()
    todo = luckybag_imports(path)
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo |= luckybag_imports(ROOT / module)
    return seen


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_the_code_it_runs(stage: str) -> None:
    script = ROOT / "stages" / f"{stage}.py"
    deps = set(STAGES[stage]["deps"])
    assert f"stages/{stage}.py" in deps
    missing = closure(script) - deps
    assert not missing, f"stage {stage} runs {sorted(missing)} but does not list it in deps"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_list_no_code_it_does_not_run(stage: str) -> None:
    """An extra module dep would re-run the stage for nothing (a plot style change retraining the model)."""
    listed = {dep for dep in STAGES[stage]["deps"] if dep.startswith("luckybag/")}
    extra = listed - closure(ROOT / "stages" / f"{stage}.py")
    assert not extra, f"stage {stage} lists {sorted(extra)} in deps but does not run it"


def test_only_the_plots_stage_depends_on_the_plotting_code() -> None:
    assert [name for name, stage in STAGES.items() if "luckybag/plots.py" in stage["deps"]] == ["plots"]
