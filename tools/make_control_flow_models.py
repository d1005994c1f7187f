#!/usr/bin/env python3
"""Generate tests/data/keras_lstm_while.* : a tiny Keras 3 LSTM converted by the TFLite converter,
which turns the recurrence into a WHILE loop (cond and body subgraphs), plus an input and the
official interpreter's output for it (reference kernels, BUILTIN_REF).

Needs TensorFlow, which litert's own venv does not carry; use a separate one:

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu ai-edge-litert
    /tmp/tfvenv/bin/python tools/make_control_flow_models.py

Weights and input come from fixed seeds. Float results of a rebuild can differ in the last bits
with another TensorFlow version; tests compare with a tolerance.
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
NAME = "keras_lstm_while"
BATCH, STEPS, FEATURES, UNITS = 1, 6, 3, 8


def build_lstm():
    import keras
    keras.utils.set_random_seed(0)
    # return_sequences=False keeps every body tensor a fixed shape; with return_sequences=True
    # the converter writes each step's output through SLICE ops whose sizes change per
    # iteration (dynamic shapes, which litert's fixed arena does not run).
    return keras.Sequential([keras.Input((STEPS, FEATURES), batch_size=BATCH),
                             keras.layers.LSTM(UNITS, return_sequences=False)])


def convert(model):
    import tensorflow as tf
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def official_outputs(tflite, x):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_content=tflite, num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    ops = sorted({op["op_name"] for op in it._get_ops_details()})
    return it.get_tensor(it.get_output_details()[0]["index"]), ops


def main():
    import numpy as np
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "tests" / "data")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tflite = convert(build_lstm())
    x = np.random.default_rng(1).uniform(-1, 1, (BATCH, STEPS, FEATURES)).astype(np.float32)
    y, ops = official_outputs(tflite, x)
    (args.out / f"{NAME}.tflite").write_bytes(tflite)
    np.save(args.out / f"{NAME}_input.npy", x)
    np.save(args.out / f"{NAME}_output.npy", y)
    print(f"{NAME}.tflite: {len(tflite):,} bytes; main subgraph ops {', '.join(ops)}; output {y.shape}")


if __name__ == "__main__":
    main()
