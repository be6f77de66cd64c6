"""Stage baseline: the seed's SGDClassifier (logistic loss) scored by 5-fold CV."""

from luckybag.errors import main_guard
from luckybag.io import write_json
from luckybag.pipeline import baseline, data
from luckybag.pipeline.params import load_section
from luckybag.pipeline.paths import BASELINE_METRICS, RAW_DIR, timing


@main_guard
def main() -> None:
    params = load_section("baseline")
    # All 60,000 training images in their original order, as the seed scores them.
    images, labels = data.load_raw(RAW_DIR, "train")
    scores = baseline.cross_validate_baseline(images, labels, params)
    fit_seconds = scores.pop("fit_seconds")
    write_json(BASELINE_METRICS, scores)
    write_json(timing("baseline"), {"fit_seconds": fit_seconds, "fit_seconds_total": sum(fit_seconds)})
    print(f"baseline: mean CV accuracy {scores['mean_accuracy']:.4f} (std {scores['std_accuracy']:.4f})")


if __name__ == "__main__":
    main()
