"""The values a search or grid sets reach params.yaml as they were sampled, through DVC's own override parser."""

import shutil
from pathlib import Path

import yaml
from dvc.utils.hydra import apply_overrides

from luckybag.lab.runs import Experiment, run_command
from tests.conftest import ROOT

VALUES = {
    "train.hidden_layers": [{"units": 512, "activation": "relu"}, {"units": 256, "activation": "swish"}],
    "train.learning_rate": None,
    "train.dropout": 0.25,
    "train.optimizer": "nesterov",
    "export.check": ["onnx"],
    "train.augment_note": "0.3",  # a string YAML would read as a number: it must stay a string
}


def test_every_set_value_reaches_params_yaml_as_sampled(tmp_path: Path) -> None:
    command = run_command(Experiment("probe", VALUES))
    overrides = [value for flag, value in zip(command, command[1:], strict=False) if flag == "-S"]
    path = tmp_path / "params.yaml"
    shutil.copy2(ROOT / "params.yaml", path)
    apply_overrides(path, [f"+{o}" if o.startswith("train.augment_note") else o for o in overrides])
    params = yaml.safe_load(path.read_text())
    for key, expected in VALUES.items():
        section, name = key.split(".")
        assert params[section][name] == expected, key
