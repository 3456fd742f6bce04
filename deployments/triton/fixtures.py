"""Tiny ONNX networks with NVIDIA's exact tensor names, shapes and dynamic batch axis.

They stand in for the real A2F / A2E networks (a2f_reference.md section 1.5) in tests and
benchmarks: the I/O contract is NVIDIA's, the dimensions are configurable and small, the
weights are fixed by a seed. Built with ``onnx.helper`` (opset 17, IR 8), so no torch needed.

- regression: ``input`` [B,1,8320], ``emotion`` [B,1,26] -> ``result`` [B,1,S+T+15+4]
- diffusion: ``window`` [B,16000], ``identity`` [B,K], ``emotion`` [B,30,10],
  ``input_latents`` [2,2,B,256], ``noise`` [B,3,60,D] -> ``prediction`` [B,60,D],
  ``output_latents`` [2,2,B,256] (GRU latents: batch on axis 2, as NVIDIA's graph)
- a2e: ``input_values`` [B,L] (L dynamic) -> ``output`` [B,6]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

REGRESSION_BUFFER_LEN = 8320  # samples: 0.52 s at 16 kHz centred on the frame
REGRESSION_EMOTION_LEN = 26  # 16 implicit + 10 explicit
DIFFUSION_WINDOW = 16000  # samples: 1 s at 16 kHz
DIFFUSION_FRAMES = 60  # 15 left + 30 centre + 15 right frames at 60 fps
DIFFUSION_STEPS = 2
GRU_LAYERS = 2
GRU_LATENT_DIM = 256
NUM_A2E_CLASSES = 6
_OPSET = 17
_IR_VERSION = 8
mk = helper.make_node


def _weight(
    rng: np.random.Generator, name: str, shape: tuple[int, ...], scale: float
) -> onnx.TensorProto:
    data = (rng.standard_normal(shape) * scale).astype(np.float32)
    return numpy_helper.from_array(data, name)


def _const(name: str, values: list[float], dtype: type = np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _io(name: str, dims: list[int | str]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[onnx.ValueInfoProto],
    inits: list[onnx.TensorProto],
    name: str,
) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", _OPSET)], producer_name="a2f-cluster"
    )
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    return model


def regression_output_len(num_skin: int, num_tongue: int) -> int:
    """Length of the regression ``result`` vector: skin ‖ tongue ‖ 15 jaw ‖ 4 eyes."""
    return num_skin + num_tongue + 15 + 4


def build_regression(
    num_skin: int = 8, num_tongue: int = 4, hidden: int = 16, seed: int = 0
) -> onnx.ModelProto:
    """Tiny regression net: ``input`` [B,1,8320], ``emotion`` [B,1,26] -> ``result``."""
    rng = np.random.default_rng(seed)
    out = regression_output_len(num_skin, num_tongue)
    nodes = [
        mk("Reshape", ["input", "flat_audio"], ["audio2d"]),
        mk("MatMul", ["audio2d", "w_audio"], ["h_audio"]),
        mk("Reshape", ["emotion", "flat_emo"], ["emo2d"]),
        mk("MatMul", ["emo2d", "w_emo"], ["h_emo"]),
        mk("Add", ["h_audio", "h_emo"], ["h_sum"]),
        mk("Tanh", ["h_sum"], ["h"]),
        mk("MatMul", ["h", "w_out"], ["res2d"]),
        mk("Reshape", ["res2d", "out_shape"], ["result"]),
    ]
    inits = [
        _const("flat_audio", [-1, REGRESSION_BUFFER_LEN]),
        _const("flat_emo", [-1, REGRESSION_EMOTION_LEN]),
        _const("out_shape", [-1, 1, out]),
        _weight(rng, "w_audio", (REGRESSION_BUFFER_LEN, hidden), 0.01),
        _weight(rng, "w_emo", (REGRESSION_EMOTION_LEN, hidden), 0.1),
        _weight(rng, "w_out", (hidden, out), 0.3),
    ]
    inputs = [
        _io("input", ["B", 1, REGRESSION_BUFFER_LEN]),
        _io("emotion", ["B", 1, REGRESSION_EMOTION_LEN]),
    ]
    return _model(nodes, inputs, [_io("result", ["B", 1, out])], inits, "a2f_regression_tiny")


def build_regression_convnet(
    num_skin: int = 272, num_tongue: int = 10, seed: int = 0
) -> onnx.ModelProto:
    """Regression-sized conv net (~2.7 M params, serving_stack.md section 4) in NVIDIA's I/O.

    Four strided Conv1d + ReLU layers over the 8320-sample window, flatten, a Gemm with the
    emotion vector concatenated, reshaped to ``result`` [B,1,S+T+19]. Used by the benchmark.
    """
    rng = np.random.default_rng(seed)
    layers = [(1, 64, 16, 8), (64, 128, 8, 4), (128, 256, 8, 4), (256, 256, 4, 2)]
    nodes, inits, x, length = [], [], "input", REGRESSION_BUFFER_LEN
    for i, (cin, cout, k, s) in enumerate(layers):
        inits += [
            _weight(rng, f"conv{i}_w", (cout, cin, k), 1.0 / np.sqrt(cin * k)),
            _weight(rng, f"conv{i}_b", (cout,), 0.01),
        ]
        nodes += [
            mk("Conv", [x, f"conv{i}_w", f"conv{i}_b"], [f"c{i}"], strides=[s]),
            mk("Relu", [f"c{i}"], [f"r{i}"]),
        ]
        x, length = f"r{i}", (length - k) // s + 1
    flat = 256 * length
    out = regression_output_len(num_skin, num_tongue)
    nodes += [
        mk("Flatten", [x], ["feat"], axis=1),
        mk("Flatten", ["emotion"], ["emo2d"], axis=1),
        mk("Concat", ["feat", "emo2d"], ["feat_emo"], axis=1),
        mk("Gemm", ["feat_emo", "fc_w", "fc_b"], ["res2d"]),
        mk("Reshape", ["res2d", "out_shape"], ["result"]),
    ]
    inits += [
        _weight(rng, "fc_w", (flat + REGRESSION_EMOTION_LEN, out), 1.0 / np.sqrt(flat)),
        _weight(rng, "fc_b", (out,), 0.01),
        _const("out_shape", [-1, 1, out]),
    ]
    inputs = [
        _io("input", ["B", 1, REGRESSION_BUFFER_LEN]),
        _io("emotion", ["B", 1, REGRESSION_EMOTION_LEN]),
    ]
    return _model(nodes, inputs, [_io("result", ["B", 1, out])], inits, "a2f_regression_conv")


def build_diffusion(
    num_identities: int = 3, out_dim: int = 40, hidden: int = 8, seed: int = 0
) -> onnx.ModelProto:
    """Tiny diffusion net with NVIDIA's I/O, GRU latents batch on axis 2, noise as input.

    ``prediction`` depends on every input (the noise through its mean over the 3 steps), and
    ``output_latents`` on the input latents, so layout mistakes change the numbers.
    """
    rng = np.random.default_rng(seed)
    lat = DIFFUSION_STEPS * GRU_LAYERS * GRU_LATENT_DIM
    nodes = [
        mk("MatMul", ["window", "w_win"], ["h_win"]),
        mk("MatMul", ["identity", "w_id"], ["h_id"]),
        mk("Reshape", ["emotion", "flat_emo"], ["emo2d"]),
        mk("MatMul", ["emo2d", "w_emo"], ["h_emo"]),
        mk("Transpose", ["input_latents"], ["lat_b"], perm=[2, 0, 1, 3]),
        mk("Reshape", ["lat_b", "flat_lat"], ["lat2d"]),
        mk("MatMul", ["lat2d", "w_lat"], ["h_lat"]),
        mk("Sum", ["h_win", "h_id", "h_emo", "h_lat"], ["h_sum"]),
        mk("Tanh", ["h_sum"], ["h"]),
        mk("MatMul", ["h", "w_pred"], ["pred2d"]),
        mk("Reshape", ["pred2d", "pred_shape"], ["pred3d"]),
        mk("ReduceMean", ["noise"], ["noise_mean"], axes=[1], keepdims=0),
        mk("Mul", ["noise_mean", "noise_gain"], ["noise_term"]),
        mk("Add", ["pred3d", "noise_term"], ["prediction"]),
        mk("MatMul", ["h", "w_olat"], ["olat2d"]),
        mk("Add", ["olat2d", "lat2d"], ["olat_sum"]),
        mk("Tanh", ["olat_sum"], ["olat_flat"]),
        mk("Reshape", ["olat_flat", "lat_shape"], ["olat_b"]),
        mk("Transpose", ["olat_b"], ["output_latents"], perm=[1, 2, 0, 3]),
    ]
    inits = [
        _const("flat_emo", [-1, 30 * 10]),
        _const("flat_lat", [-1, lat]),
        _const("pred_shape", [-1, DIFFUSION_FRAMES, out_dim]),
        _const("lat_shape", [-1, DIFFUSION_STEPS, GRU_LAYERS, GRU_LATENT_DIM]),
        _weight(rng, "w_win", (DIFFUSION_WINDOW, hidden), 0.01),
        _weight(rng, "w_id", (num_identities, hidden), 0.5),
        _weight(rng, "w_emo", (30 * 10, hidden), 0.05),
        _weight(rng, "w_lat", (lat, hidden), 0.05),
        _weight(rng, "w_pred", (hidden, DIFFUSION_FRAMES * out_dim), 0.3),
        _weight(rng, "w_olat", (hidden, lat), 0.3),
        _const("noise_gain", [0.1], np.float32),
    ]
    inputs = [
        _io("window", ["B", DIFFUSION_WINDOW]),
        _io("identity", ["B", num_identities]),
        _io("emotion", ["B", 30, 10]),
        _io("input_latents", [DIFFUSION_STEPS, GRU_LAYERS, "B", GRU_LATENT_DIM]),
        _io("noise", ["B", DIFFUSION_STEPS + 1, DIFFUSION_FRAMES, out_dim]),
    ]
    outputs = [
        _io("prediction", ["B", DIFFUSION_FRAMES, out_dim]),
        _io("output_latents", [DIFFUSION_STEPS, GRU_LAYERS, "B", GRU_LATENT_DIM]),
    ]
    return _model(nodes, inputs, outputs, inits, "a2f_diffusion_tiny")


def build_a2e(seed: int = 0) -> onnx.ModelProto:
    """Tiny A2E classifier: ``input_values`` [B,L] (L dynamic) -> ``output`` [B,6] logits."""
    rng = np.random.default_rng(seed)
    nodes = [
        mk("ReduceMean", ["input_values"], ["mean"], axes=[1], keepdims=1),
        mk("Mul", ["input_values", "input_values"], ["sq"]),
        mk("ReduceMean", ["sq"], ["power"], axes=[1], keepdims=1),
        mk("Abs", ["input_values"], ["absx"]),
        mk("ReduceMax", ["absx"], ["peak"], axes=[1], keepdims=1),
        mk("Concat", ["mean", "power", "peak"], ["feat"], axis=1),
        mk("Gemm", ["feat", "w", "b"], ["output"]),
    ]
    inits = [
        _weight(rng, "w", (3, NUM_A2E_CLASSES), 1.0),
        _weight(rng, "b", (NUM_A2E_CLASSES,), 0.1),
    ]
    return _model(
        nodes,
        [_io("input_values", ["B", "L"])],
        [_io("output", ["B", NUM_A2E_CLASSES])],
        inits,
        "a2e_tiny",
    )


def save(model: onnx.ModelProto, path: Path) -> Path:
    """Write ``model`` to ``path`` (parents created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
