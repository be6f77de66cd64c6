"""The package's boundaries, read from the source (nothing imported): the tree shows the plan and keeps it.

- ``luckybag/serve/`` imports only the core and itself, so the serving install never pulls in the pipeline;
- ``luckybag/pipeline/`` never imports the experiment tooling (``luckybag.lab``);
- the core (the modules at the package root) imports no subpackage at module level; ``cli.py`` imports each
  sub-command's code inside the function that runs it.
"""

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "luckybag"
SUBPACKAGES = ("pipeline", "serve", "lab")
CORE = sorted(PACKAGE.glob("*.py"))


def modules(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


def luckybag_imports(path: Path, module_level_only: bool = False, root: Path = ROOT) -> set[str]:
    """The ``luckybag`` modules ``path`` imports (``from luckybag.x import y`` counts as ``luckybag.x.y``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                package = path.relative_to(root).with_suffix("").parts[: -node.level]
                base = ".".join(package + ((node.module,) if node.module else ()))
            else:
                base = node.module or ""
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "luckybag" or name.startswith("luckybag.")}


def in_group(name: str, *groups: str) -> bool:
    return any(name == f"luckybag.{group}" or name.startswith(f"luckybag.{group}.") for group in groups)


def package_names() -> set[str]:
    """What ``from luckybag import NAME`` can mean in the core: a root module or a name ``__init__.py`` binds."""
    names = {path.stem for path in CORE}
    for node in ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Assign):
            names |= {target.id for target in node.targets if isinstance(target, ast.Name)}
    return names


def is_core(name: str) -> bool:
    """``luckybag`` itself, one of its root modules or a name the package binds (not a subpackage, nothing else)."""
    parts = name.split(".")
    return len(parts) == 1 or parts[1] in package_names()


def test_the_groups_exist() -> None:
    assert CORE and all(modules(group) for group in SUBPACKAGES)


@pytest.mark.parametrize("path", modules("serve"), ids=lambda path: str(path.relative_to(ROOT)))
def test_serving_imports_only_the_core_and_itself(path: Path) -> None:
    outside = sorted(name for name in luckybag_imports(path) if not (is_core(name) or in_group(name, "serve")))
    assert not outside, f"{path.relative_to(ROOT)} imports {outside}: serving may import only the core and serve/"


@pytest.mark.parametrize("path", modules("pipeline"), ids=lambda path: str(path.relative_to(ROOT)))
def test_the_pipeline_never_imports_the_lab(path: Path) -> None:
    lab = sorted(name for name in luckybag_imports(path) if in_group(name, "lab"))
    assert not lab, f"{path.relative_to(ROOT)} imports {lab}: the pipeline must not import the experiment tooling"


@pytest.mark.parametrize("path", CORE, ids=lambda path: str(path.relative_to(ROOT)))
def test_the_core_imports_no_subpackage_at_module_level(path: Path) -> None:
    found = sorted(name for name in luckybag_imports(path, module_level_only=True) if not is_core(name))
    assert not found, f"{path.relative_to(ROOT)} imports {found} at module level: the core must stand alone"


def test_the_check_sees_every_kind_of_import(tmp_path: Path) -> None:
    """The parser catches imports inside functions and relative ones, so the rules above can fail."""
    module = tmp_path / "luckybag" / "serve" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text("def f():\n    from luckybag.pipeline import data\n    from ..lab import grid\n")
    names = luckybag_imports(module, root=tmp_path)
    assert {"luckybag.pipeline.data", "luckybag.lab.grid"} <= names
    assert not luckybag_imports(module, module_level_only=True, root=tmp_path)
