"""Keras' environment: the backend, and JAX's compile cache shared by every stage process."""

import subprocess
import sys
from pathlib import Path

import pytest

from luckybag.backend import jax_cache_dir, keras_env

PROBE = """
from luckybag.backend import use_backend
use_backend("jax")
import keras, numpy as np
keras.utils.set_random_seed(1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
print(model.predict(np.ones((2, 4), dtype="float32"), verbose=0).tobytes().hex())
"""


def test_the_cache_lives_in_the_users_cache_outside_the_workspace() -> None:
    assert jax_cache_dir({"XDG_CACHE_HOME": "/x/cache", "HOME": "/h"}) == "/x/cache/luckybag/jax"
    assert jax_cache_dir({"HOME": "/h"}) == "/h/.cache/luckybag/jax"
    env = keras_env("jax", {"HOME": "/h"})
    assert env["JAX_COMPILATION_CACHE_DIR"] == "/h/.cache/luckybag/jax"
    assert env["KERAS_BACKEND"] == "jax"


def test_a_users_setting_wins_and_an_empty_one_turns_the_cache_off() -> None:
    assert keras_env("jax", {"JAX_COMPILATION_CACHE_DIR": "/mine"})["JAX_COMPILATION_CACHE_DIR"] == "/mine"
    assert keras_env("jax", {"JAX_COMPILATION_CACHE_DIR": ""})["JAX_COMPILATION_CACHE_DIR"] == ""


@pytest.mark.slow
def test_a_second_process_reuses_the_compiled_programs_with_the_same_result(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    first, second = (
        subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
        for _ in range(2)
    )
    cached = list((tmp_path / "luckybag" / "jax").iterdir())
    assert cached, "the first process wrote no compiled program to the cache"
    assert first.stdout.splitlines()[-1] == second.stdout.splitlines()[-1]
