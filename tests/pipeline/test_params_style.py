"""params.yaml is kept in the style DVC rewrites it in, so an applied experiment changes only its own lines."""

import shutil
from pathlib import Path

import pytest
from dvc.utils.hydra import apply_overrides

from tests.conftest import ROOT


@pytest.mark.parametrize(
    "overrides",
    [["train.dropout=0.3"], ["train.dropout=0", "export.check=[onnx]"]],
    ids=["same-value", "changed-and-back"],
)
def test_dvc_rewrite_leaves_the_committed_file_byte_identical(tmp_path: Path, overrides: list[str]) -> None:
    """`dvc exp run -S` and `dvc exp apply` write params.yaml with DVC's own dumper (apply_overrides)."""
    path = tmp_path / "params.yaml"
    shutil.copy2(ROOT / "params.yaml", path)
    apply_overrides(path, overrides)
    apply_overrides(path, ["train.dropout=0.3", "export.check=[keras,weights,savedmodel,onnx]"])
    assert path.read_text() == (ROOT / "params.yaml").read_text()


def test_an_override_changes_only_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    shutil.copy2(ROOT / "params.yaml", path)
    apply_overrides(path, ["train.optimizer=sgd"])
    before, after = (ROOT / "params.yaml").read_text().splitlines(), path.read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [
        (
            "  optimizer: adam     # sgd | momentum | nesterov | rmsprop | adagrad | adam",
            "  optimizer: sgd      # sgd | momentum | nesterov | rmsprop | adagrad | adam",
        )
    ]
