"""The whole pipeline on the real Fashion-MNIST with the default params (about 1-2 minutes)."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from luckybag.pipeline.data import DEBIAN_DIR, FILES
from tests.conftest import NUMPY_STAGES, ROOT, WITHOUT_AVX512, make_project, run, unavailable

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]


def real_data_source() -> str | None:
    mirror = yaml.safe_load((ROOT / "params.yaml").read_text())["download"]["mirror"]
    if mirror:
        return mirror
    if all((DEBIAN_DIR / f"{name}.gz").exists() for name in FILES):
        return str(DEBIAN_DIR)
    return None


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if real_data_source() is None:
        reason = (
            f"no Fashion-MNIST source: neither {DEBIAN_DIR} (apt-get install dataset-fashion-mnist) "
            "nor download.mirror in params.yaml; `make test` installs the Debian package"
        )
        unavailable(reason)  # CI must run the acceptance test, not skip it
    project = make_project(tmp_path_factory.mktemp("real") / "project")
    run(["dvc", "repro"], project, timeout=1800)
    return project


@pytest.fixture(scope="module")
def fresh_locks(real_run: Path) -> dict[str, dict[str, dict]]:
    """The fresh run's dvc.lock entries as run natively, then after rerunning NUMPY_STAGES without AVX-512."""
    locks = {"native": lock_entries(real_run / "dvc.lock")}
    run(["dvc", "repro", "--force", "--single-item", *NUMPY_STAGES], real_run, env=WITHOUT_AVX512, timeout=1800)
    locks["without-avx512"] = lock_entries(real_run / "dvc.lock")
    return locks


def test_baseline_reproduces_the_seed(real_run: Path) -> None:
    baseline = json.loads((real_run / "metrics/baseline.json").read_text())
    assert len(baseline["fold_accuracy"]) == 5
    assert 0.81 <= baseline["mean_accuracy"] <= 0.83  # seed: 0.8196 at max_iter 5


def test_dense_model_reaches_the_seeds_accuracy(real_run: Path) -> None:
    evaluation = json.loads((real_run / "metrics/eval.json").read_text())
    assert evaluation["val"]["accuracy"] >= 0.875
    assert evaluation["test"]["accuracy"] >= 0.865
    train = json.loads((real_run / "metrics/train.json").read_text())
    assert train["params_count"] == 79_510
    assert train["best_epoch"] <= train["epochs_run"] <= 20


def test_exports_round_trip(real_run: Path) -> None:
    exported = json.loads((real_run / "metrics/export.json").read_text())
    assert all(result["ok"] for result in exported.values())


def lock_entries(path: Path) -> dict[str, dict]:
    """Per stage: its deps, params and the hashes of all its outs (models included: their bytes are reproducible)."""
    stages = yaml.safe_load(path.read_text())["stages"]
    return {
        name: {
            "deps": stage.get("deps", []),
            "params": stage.get("params"),
            "outs": {o["path"]: o["md5"] for o in stage.get("outs", [])},
        }
        for name, stage in stages.items()
    }


@pytest.mark.parametrize("cpu", ["native", "without-avx512"])
def test_committed_lock_matches_a_fresh_run(fresh_locks: dict[str, dict[str, dict]], cpu: str) -> None:
    """dvc.lock on main records the committed code and params and the bytes they give, on any CPU."""
    fresh, committed = fresh_locks[cpu], lock_entries(ROOT / "dvc.lock")
    assert fresh.keys() == committed.keys()
    for stage in fresh:
        assert fresh[stage] == committed[stage], stage


def test_committed_metrics_match_a_fresh_run(real_run: Path) -> None:
    """metrics/ on main must come from `dvc repro` of the committed code and params."""
    for name in ("baseline.json", "train.json", "eval.json", "export.json"):
        fresh = json.loads((real_run / "metrics" / name).read_text())
        committed = json.loads((ROOT / "metrics" / name).read_text())
        assert fresh == committed, name


def test_readme_predict_example_prints_its_figures(real_run: Path) -> None:
    """The README's predict/bag example, run on the real data with the model of the committed code: every line it
    shows, figures included (the tiny clone of tests/test_readme.py checks only the figure-free ones)."""
    from tests.test_readme import assert_prints_in_order, commands, normalized, real_data_block, run_block

    block = commands(real_data_block((ROOT / "README.md").read_text()))
    results = run_block(block, real_run, "readme-predict.sh")
    shown = [cmd.shown for cmd in block]
    assert any("%" in line for lines in shown for line in lines)  # the figures are among what is checked
    for index, cmd in enumerate(block):
        assert_prints_in_order(cmd, *results.get(index, (None, "")), [normalized(s) for s in cmd.shown if s.strip()])


# --- the real model's detector, as the CLI uses it (no mock) ----------------------------------------------


def letter(path: Path, char: str) -> Path:
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"), 64)
    canvas = Image.new("L", (96, 96), 255)
    ImageDraw.Draw(canvas).text((48, 48), char, fill=0, font=font, anchor="mm")
    canvas.save(path)
    return path


def test_the_real_detector_flags_real_non_items_and_passes_test_items(real_run: Path, tmp_path: Path, capsys) -> None:
    import skimage.data
    from PIL import Image

    from luckybag import cli
    from luckybag.pipeline.data import load_split
    from luckybag.serve import screening

    model = real_run / "models" / "model.onnx"
    detector, notice = screening.find(model)
    assert detector is not None, notice
    from sklearn.datasets import load_digits

    # Issue 27's misses: a horse and a page of text answered "Bag 100 %", a blank page an item, a handwritten digit.
    non_items = {
        "astronaut.png": skimage.data.astronaut(),
        "horse.png": (~skimage.data.horse()).astype(np.uint8) * 255,
        "page.png": skimage.data.page(),
        "blank.png": np.full((400, 300), 255, np.uint8),
        "digit.png": np.rint(load_digits().images[0] * (255 / 16)).astype(np.uint8),
    }
    for name, array in non_items.items():
        Image.fromarray(array).save(tmp_path / name)
    for i, item in enumerate(load_split(real_run / "data" / "prepared" / "test.npz").images[:2]):
        Image.fromarray(item).save(tmp_path / f"item{i}.png")
    paths = [*(tmp_path / name for name in non_items), letter(tmp_path / "A.png", "A")]
    paths += [tmp_path / "item0.png", tmp_path / "item1.png"]
    assert cli.main(["predict", "--json", "--model", str(model), *map(str, paths)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["in_distribution"] for r in records] == [False] * 6 + [True, True]
    assert all(r["ood_threshold"] == detector.threshold for r in records)
    assert [r["ood_score"] > r["ood_threshold"] for r in records] == [True] * 6 + [False, False]
    assert cli.main(["bag", "--model", str(model), *map(str, paths)]) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith("; left out 6 inputs not like a fashion item")


def test_a_copied_real_model_without_its_detector_says_so_once(real_run: Path, tmp_path: Path, capsys) -> None:
    import shutil

    from luckybag import cli

    model = real_run / "models" / "model.onnx"
    shutil.copy(model, tmp_path / "model.onnx")
    shutil.copy(model.with_name("labels.json"), tmp_path / "labels.json")
    letter(tmp_path / "A.png", "A")
    assert cli.main(["predict", str(tmp_path / "A.png"), "--model", str(tmp_path / "model.onnx")]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"note: {tmp_path / 'ood'}/ not found beside model.onnx: answers are unscreened (`dvc repro` fits it)"
    ]
    assert "!" not in out
