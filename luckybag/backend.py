"""The one place that sets up the Keras environment (backend, quiet and deterministic TensorFlow, JAX's compile cache)."""

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from luckybag.errors import LuckybagError


def jax_cache_dir(env: Mapping[str, str] = os.environ) -> str:
    """Where JAX keeps compiled programs between processes: the user's cache, outside any DVC workspace.

    It saves each stage seconds of recompiling and changes no result (a cached program is the same executable);
    ``JAX_COMPILATION_CACHE_DIR=""`` turns it off.
    """
    base = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".cache")
    return str(Path(base) / "luckybag" / "jax")


def keras_env(name: str, env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``env`` with Keras on backend ``name``, TensorFlow's start-up banner off and its kernels deterministic."""
    jax_cache = {"JAX_COMPILATION_CACHE_DIR": jax_cache_dir(env), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    return {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_DETERMINISTIC_OPS": "1", **jax_cache, **env, "KERAS_BACKEND": name}


def use_backend(name: str) -> None:
    """Select ``name`` for Keras; must run before the first ``import keras``."""
    if "keras" not in sys.modules:
        os.environ.update(keras_env(name))
    try:
        import keras
    except ImportError as err:
        raise LuckybagError(f"train.backend {name!r}: cannot import it ({err}); install it or pick another") from None
    if keras.backend.backend() != name:
        raise LuckybagError(
            f"Keras is already loaded with backend {keras.backend.backend()!r}; cannot switch to {name!r}"
        )
