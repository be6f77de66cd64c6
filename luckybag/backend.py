"""The one place that sets up the Keras environment (backend, quiet and deterministic TensorFlow)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from luckybag.errors import LuckybagError


def keras_env(name: str, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``env`` with Keras on backend ``name``, TensorFlow's start-up banner off and its kernels deterministic."""
    return {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_DETERMINISTIC_OPS": "1", **env, "KERAS_BACKEND": name}


def use_backend(name: str) -> None:
    """Select ``name`` for Keras; must run before the first ``import keras``."""
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise LuckybagError(
                f"Keras is already loaded with backend {keras.backend.backend()!r}; cannot switch to {name!r}"
            )
        return
    os.environ.update(keras_env(name))
    try:
        import keras  # noqa: F401
    except ImportError as err:
        raise LuckybagError(f"train.backend {name!r}: cannot import it ({err}); install it or pick another") from None
