"""Export the emotion classifier to ONNX and write an NVIDIA-layout Audio2Emotion package.

Files (a2f_reference.md 1.2): ``network.onnx`` (``input_values`` [B, L] -> ``output`` [B, 6],
B and L dynamic), ``network_info.json`` (16 kHz, the six emotions), ``model_config.json``
(``post_processing_config`` with the SDK defaults and NVIDIA's ``emotion_correspondence``),
``trt_info.json`` and ``model.json``.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from a2f_actors.model_package import write_package
from a2f_actors.model_package.synthetic import build_a2e_package
from a2f_train.nets.emotion import EmotionNet

OPSET = 17


def export_onnx(net: EmotionNet) -> bytes:
    """ONNX bytes of ``net`` (opset 17, dynamic batch and length)."""
    buf = io.BytesIO()
    dummy = torch.randn(2, 30000) * 0.1
    with torch.no_grad(), warnings.catch_warnings():
        # legacy-exporter, tracer and GRU batch-size notices (h0 is an input: not applicable)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(), (dummy,), buf, input_names=["input_values"], output_names=["output"],
            dynamic_axes={"input_values": {0: "B", 1: "L"}, "output": {0: "B"}},
            opset_version=OPSET, dynamo=False,
        )  # fmt: skip
    return buf.getvalue()


def write_a2e_package(
    net: EmotionNet, out_dir: Path | str, summary: dict[str, Any] | None = None
) -> Path:
    """Export ``net`` and write the package into ``out_dir``; returns model.json.

    The package records (network_info, post-processing config, trt_info) are NVIDIA's
    defaults as assembled by :func:`a2f_actors.model_package.synthetic.build_a2e_package`.

    Args:
        net: trained classifier.
        out_dir: package folder (created).
        summary: training and evaluation facts, written to ``training_summary.json``.
    """
    out = Path(out_dir)
    model_json = write_package(build_a2e_package(), out, onnx=export_onnx(net))
    if summary is not None:
        (out / "training_summary.json").write_text(
            json.dumps(summary, indent=2, sort_keys=True) + "\n"
        )
    return model_json
