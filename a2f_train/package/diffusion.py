"""Export the diffusion network to ONNX and write an NVIDIA-layout v3.0 diffusion package.

Files (a2f_reference.md 1.2): ``network.onnx``, ``network_info.json``, ``trt_info.json``,
``model.json`` and, per identity X of :data:`~a2f_train.train.styles.IDENTITIES`,
``model_config_X.json``, ``model_data_X.npz`` (the 6 arrays), ``bs_skin_X.npz``,
``bs_skin_config_X.json``, ``bs_tongue_X.npz``, ``bs_tongue_config_X.json`` (written with
:func:`~a2f_train.character.write_character_assets`).
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2f_actors.model_package import write_package
from a2f_actors.model_package.records import (
    DiffusionIdentity,
    DiffusionModelData,
    DiffusionPackage,
)
from a2f_actors.model_package.schema import (
    AudioParams,
    DiffusionNetworkInfo,
    ModelConfig,
    NetworkId,
)
from a2f_actors.model_package.synthetic import DIFFUSION_CONFIG, _diffusion_trt_info
from a2f_actors.names import A2F_EMOTIONS
from a2f_train.nets.diffusion import CENTER_FIRST, FRAMES, WINDOW, DiffusionNet
from a2f_train.train.styles import IDENTITIES

INPUTS = ("window", "identity", "emotion", "input_latents", "noise")
OUTPUTS = ("prediction", "output_latents")
OPSET = 17


def dummy_inputs(net: DiffusionNet, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random tensors in the ONNX contract's shapes (for export and parity checks)."""
    g = torch.Generator().manual_seed(seed)
    k, h, d = net.dims.identities, net.dims.latent, net.decoder.width
    identity = torch.zeros(batch, k)
    identity[torch.arange(batch), torch.arange(batch) % k] = 1.0
    return (
        torch.randn(batch, WINDOW, generator=g) * 0.1,
        identity,
        torch.rand(batch, 30, 10, generator=g) * 0.5,
        torch.randn(2, 2, batch, h, generator=g) * 0.1,
        torch.randn(batch, 3, FRAMES, d, generator=g),
    )


def export_onnx(net: DiffusionNet) -> bytes:
    """ONNX bytes (opset 17, dynamic batch: axis 0, axis 2 of the latents; no constant folding).

    Constant folding stays off (as in NVIDIA's convert_onnx.py) so the float16 decode matrix
    is stored once and cast at run time.
    """
    axes: dict[str, dict[int, str]] = {n: {0: "B"} for n in (*INPUTS, *OUTPUTS)}
    axes["input_latents"] = axes["output_latents"] = {2: "B"}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # legacy-exporter, tracer and GRU batch-size notices (h0 is an input: not applicable)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(), dummy_inputs(net), buf, input_names=list(INPUTS),
            output_names=list(OUTPUTS), dynamic_axes=axes, opset_version=OPSET,
            do_constant_folding=False, dynamo=False,
        )  # fmt: skip
    return buf.getvalue()


def network_info(net: DiffusionNet, skin_size: int, tongue_size: int) -> DiffusionNetworkInfo:
    """network_info.json of the package (SDK diffusion schema)."""
    return DiffusionNetworkInfo(
        id=NetworkId(type="diffusion", output="geometry", actor="ada", version="3.0"),
        emotions=A2F_EMOTIONS,
        default_emotion=(0.0,) * len(A2F_EMOTIONS),
        identities=IDENTITIES,
        skin_size=skin_size,
        tongue_size=tongue_size,
        jaw_size=15,
        eyes_size=4,
        num_diffusion_steps=2,
        num_gru_layers=2,
        gru_latent_dim=net.dims.latent,
        num_frames_left_truncate=CENTER_FIRST,
        num_frames_right_truncate=CENTER_FIRST,
        num_frames_center=30,
        audio_params=AudioParams(
            samplerate=16000, buffer_len=16000, padding_left=16000, padding_right=16000
        ),
    )


def _identity(out: Path, name: str) -> DiffusionIdentity:
    from a2f_train.character import write_character_assets

    assets = write_character_assets(out, identity_suffix=f"_{name}")
    data = DiffusionModelData(
        neutral_skin=assets.neutral_skin,
        neutral_tongue=assets.neutral_tongue,
        neutral_jaw=assets.neutral_jaw,
        lip_open_pose_delta=assets.lip_open_pose_delta,
        eye_close_pose_delta=assets.eye_close_pose_delta,
        saccade_rot_matrix=assets.saccade_rot_matrix,
    )
    config = ModelConfig(values=dict(DIFFUSION_CONFIG))
    return DiffusionIdentity(name, config, data, assets.skin, assets.tongue)


def write_diffusion_package(
    net: DiffusionNet, out_dir: Path | str, summary: dict[str, Any] | None = None
) -> Path:
    """Export ``net`` and write the whole package into ``out_dir``; returns model.json.

    Args:
        net: trained network (its decoder fixes D = skin + tongue + 15 + 4).
        out_dir: package folder (created).
        summary: training facts, written to ``training_summary.json`` beside the files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    idents = tuple(_identity(out, name) for name in IDENTITIES)
    first = idents[0].model_data
    info = network_info(net, first.neutral_skin.size, first.neutral_tongue.size)
    pkg = DiffusionPackage(info, idents, trt_info=_diffusion_trt_info(info))
    model_json = write_package(pkg, out, onnx=export_onnx(net))
    if summary is not None:
        clean = {
            k: (float(v) if isinstance(v, np.floating | float) else v) for k, v in summary.items()
        }
        (out / "training_summary.json").write_text(
            json.dumps(clean, indent=2, sort_keys=True) + "\n"
        )
    return model_json
