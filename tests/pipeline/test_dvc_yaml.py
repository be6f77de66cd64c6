"""dvc.yaml must list every library module a stage runs, so a code change re-runs the right stages."""

import ast
from pathlib import Path

import pytest
import yaml

from luckybag.contract import EXPORT_FILES, LABELS_FILE, MODELS_DIR
from luckybag.pipeline import paths
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
                for depth in range(1, len(parts) + 1):  # the package and every subpackage on the way
                    package = ROOT.joinpath(*parts[:depth], "__init__.py")
                    if package.exists():
                        found.add(str(package.relative_to(ROOT)))
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
def script_of(stage: str) -> str:
    """The stage's module, as dvc.yaml runs it: ``python -m stages.NAME`` (``-`` in a stage name is ``_``)."""
    return f"stages/{stage.replace('-', '_')}.py"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_runs_its_module(stage: str) -> None:
    assert STAGES[stage]["cmd"] == f"python -m stages.{stage.replace('-', '_')}"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_cover_the_code_it_runs(stage: str) -> None:
    script = ROOT / script_of(stage)
    deps = set(STAGES[stage]["deps"])
    assert {script_of(stage), "stages/__init__.py"} <= deps
    missing = closure(script) - deps
    assert not missing, f"stage {stage} runs {sorted(missing)} but does not list it in deps"


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_deps_list_no_code_it_does_not_run(stage: str) -> None:
    """An extra module dep would re-run the stage for nothing (a plot style change retraining the model)."""
    listed = {dep for dep in STAGES[stage]["deps"] if dep.startswith("luckybag/")}
    extra = listed - closure(ROOT / script_of(stage))
    assert not extra, f"stage {stage} lists {sorted(extra)} in deps but does not run it"


def test_only_the_plots_stage_depends_on_the_plotting_code() -> None:
    assert [name for name, stage in STAGES.items() if "luckybag/pipeline/plots.py" in stage["deps"]] == ["plots"]


def test_every_declared_output_path_is_a_stage_output() -> None:
    """luckybag/pipeline/paths.py, the export's files and dvc.yaml name the same outputs (timings/ is git-ignored, no output)."""
    outs = set()
    for stage in STAGES.values():
        for entry in stage.get("outs", []) + stage.get("metrics", []):
            outs.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    declared = [value for value in vars(paths).values() if isinstance(value, Path)] + list(paths.PNGS.values())
    declared += [paths.prepared("test"), paths.timing("train").parent, MODELS_DIR / LABELS_FILE]
    declared += [MODELS_DIR / name for names in EXPORT_FILES.values() for name in names]
    missing = [
        str(path) for path in declared if path.parts[0] != "timings" and not {str(path), str(path.parent)} & outs
    ]
    assert not missing, f"paths.py declares {missing}, which no stage of dvc.yaml writes"
