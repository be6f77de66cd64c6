"""Stage preprocess: parse IDX, split train/validation, keep test apart."""

from sklearn.model_selection import train_test_split

from luckybag.errors import main_guard
from luckybag.pipeline import data
from luckybag.pipeline.params import load_section
from luckybag.pipeline.paths import RAW_DIR, prepared


@main_guard
def main() -> None:
    params = load_section("preprocess")
    images, labels = data.load_raw(RAW_DIR, "train")
    test_images, test_labels = data.load_raw(RAW_DIR, "t10k")
    train_x, val_x, train_y, val_y = train_test_split(
        images, labels, test_size=params.test_size, random_state=params.random_state
    )
    splits = {
        "train": data.Split(train_x, train_y),
        "val": data.Split(val_x, val_y),
        "test": data.Split(test_images, test_labels),
    }
    for name, split in splits.items():
        data.save_split(prepared(name), split)
        print(f"{prepared(name)}: {len(split)} images")


if __name__ == "__main__":
    main()
