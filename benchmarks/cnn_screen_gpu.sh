#!/bin/bash
# The GPU screening behind benchmarks/results/{cnn,dense}_screen_h200.json: validation accuracy only.
# Ran on a lent machine (NVIDIA H200; Python 3.12 with JAX on CUDA but no Keras, and no network), with
# build/cnn_search/ carried there holding the prepared split as .npz (prepared/) and the wheels of
# keras==3.15.1, namex and optree for Python 3.12 (wheels/, `pip download --python-version 3.12 ...`).
# Results go to $OUT; the screen files merge these runs' "candidates" under a note.
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/pylib build/cnn_search/wheels/*.whl
export PYTHONPATH=/tmp/pylib XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=3 KERAS_BACKEND=jax
screen() {  # screen FAMILY TAG [NAME ...]: one process per call, several at once share the GPU
  python3 benchmarks/cnn_search.py --family "$1" --backend jax --data build/cnn_search/prepared \
    --results "$OUT/$1_screen_$2.json" --checkpoints /tmp/ck ${3:+--only "${@:3}"} > "$OUT/$1_$2.log" 2>&1
}
# Run 1 (the candidates of commit 1d94fd6, with train.mirror_average; stopped at 440 s, after the
# CNN's first four and all dense candidates):
#   screen cnn all & screen dense all & wait
# Run 2 (this commit's CNN candidates without the mirror):
screen cnn a c16-32x2-e40 c16-32x2-e25-ls0.1 c24-48x2-e25 &
screen cnn b c16-32x2-bn-e25 c16-32x2-bn-e40-ls0.1 &
screen cnn c c32-64x1-bn-e30 c16-32x2-bn-e40-lr3e-3 &
wait
