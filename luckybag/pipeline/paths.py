"""Every file and folder the stages write, declared once; the stages that read them import them too.

dvc.yaml names them again (tests/pipeline/test_dvc_yaml.py checks that it names each of these).
"""

from pathlib import Path

from luckybag import contract

PARAMS_OK = Path("data/params.ok")
RAW_DIR = Path("data/raw")
PREPARED_DIR = Path("data/prepared")  # {train,val,test}.npz
PREDICTIONS = Path("data/predictions.npz")
CHECKPOINT = contract.MODELS_DIR / "checkpoint.keras"
SUMMARY = contract.MODELS_DIR / "summary.txt"
MODEL_CARD = contract.MODELS_DIR / "MODEL_CARD.md"  # the export's files: contract.EXPORT_FILES
DETECTOR_DIR = contract.MODELS_DIR / contract.DETECTOR_DIR
LIVE_DIR = Path("dvclive")
BASELINE_METRICS = Path("metrics/baseline.json")
TRAIN_METRICS = Path("metrics/train.json")
EVAL_METRICS = Path("metrics/eval.json")
PER_CLASS = Path("metrics/per_class.json")
EXPORT_METRICS = Path("metrics/export.json")
CONFUSION_DATA = Path("plots/confusion.json")
RELIABILITY_DIR = Path("plots/reliability")
PNGS = {name: Path(f"plots/{name}.png") for name in ("samples", "loss", "confusion", "reliability")}


def prepared(split: str) -> Path:
    return PREPARED_DIR / f"{split}.npz"


def timing(stage: str) -> Path:
    """Wall-clock figures of ``stage``'s last run (git-ignored, not a DVC output)."""
    return Path("timings") / f"{stage}.json"
