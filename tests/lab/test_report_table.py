"""The pull-request report's metrics table: changed first, unchanged folded, values as the files hold them."""

from luckybag.lab.report import headline, metric_rows, metrics_blocks

DIFF = {
    "metrics/eval.json": {
        "val.accuracy": {"old": 0.8788, "new": 0.8812, "diff": 0.0024},
        "test.accuracy": {"old": 0.87, "new": 0.87, "diff": 0.0},
        "calibration.method": {"old": "vector", "new": "temperature"},
    },
    "metrics/export.json": {
        "onnx.ok": {"old": True, "new": True, "diff": 0},
        "onnx.same_argmax": {"old": True, "new": False, "diff": -1},
        "onnx.max_abs_diff": {"old": 8.51e-07, "new": 1.27e-06, "diff": 4.19e-07},
    },
    "metrics/train.json": {"params_count": {"old": None, "new": 79510}},
}


def test_changed_rows_first_values_as_they_are() -> None:
    changed, unchanged = metric_rows(DIFF)
    assert changed == [
        ["metrics/eval.json", "val.accuracy", "0.8788", "0.8812", "+0.0024"],
        ["metrics/eval.json", "calibration.method", "vector", "temperature", "—"],
        ["metrics/export.json", "onnx.same_argmax", "true", "false", "—"],
        ["metrics/export.json", "onnx.max_abs_diff", "8.51e-07", "1.27e-06", "+4.19e-07"],
        ["metrics/train.json", "params_count", "—", "79510", "—"],
    ]
    assert unchanged == [
        ["metrics/eval.json", "test.accuracy", "0.87", "0.87", "0"],
        ["metrics/export.json", "onnx.ok", "true", "true", "—"],
    ]


def test_unchanged_metrics_are_folded_away() -> None:
    blocks = metrics_blocks(DIFF)
    assert blocks[0] == "## Metrics (5 changed, 2 unchanged)"
    assert "| val.accuracy |" in blocks[1] and "test.accuracy" not in blocks[1]
    assert blocks[2:4] == ["<details><summary>2 unchanged metrics</summary>", blocks[3]]
    assert "| test.accuracy | 0.87 | 0.87 | 0 |" in blocks[3] and blocks[4] == "</details>"


def test_nothing_changed_or_nothing_at_all() -> None:
    same = {"metrics/eval.json": {"val.accuracy": {"old": 0.9, "new": 0.9, "diff": 0.0}}}
    assert metrics_blocks(same)[1] == "No metric changed."
    assert metrics_blocks({}) == ["## Metrics", "No metrics in either revision."]


def test_headline() -> None:
    assert headline(DIFF) == "val.accuracy 0.8788 → 0.8812 (+0.0024); test.accuracy 0.87 → 0.87 (no change)"
