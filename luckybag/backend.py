"""Choose the Keras backend before Keras is imported."""

from __future__ import annotations

import os
import sys

from luckybag.errors import LuckybagError


def use_backend(name: str) -> None:
    """Select ``name`` for Keras; must run before the first ``import keras``."""
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise LuckybagError(
                f"Keras is already loaded with backend {keras.backend.backend()!r}; cannot switch to {name!r}"
            )
        return
    os.environ["KERAS_BACKEND"] = name
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up banner is noise in stage logs
    # Deterministic kernels on TensorFlow; harmless for the other backends.
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    try:
        import keras  # noqa: F401
    except ImportError as err:
        raise LuckybagError(f"train.backend {name!r}: cannot import it ({err}); install it or pick another") from None
