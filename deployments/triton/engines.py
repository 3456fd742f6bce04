"""TensorRT engines from the packages' ONNX (``a2f models build-engines``), for GPU nodes.

Shape profiles come from ``trt_info.json`` (trtexec ``--minShapes/--optShapes/--maxShapes``
with ``{MAX_BATCH_SIZE}`` / ``{OPT_BATCH_SIZE}`` placeholders filled from the advanced
config's ``trt_model_generation``), or, without trt_info.json, from the ONNX dims with the
batch axis set to min/opt/max. Engines are cached under a key of GPU name + compute capability
+ TensorRT version + precision + profile, with ``provenance.json`` beside each ``model.plan``.

``tensorrt`` is imported only inside :func:`load_tensorrt`; without it (CPU machines, where it
cannot even be installed) the command explains what to do and exits non-zero.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from deployments.triton.python_model.model import NVIDIA_BATCH_AXIS, onnx_io
from deployments.triton.repository import NetworkSource, model_name, sha256_file

Shape = tuple[int, ...]
MISSING_TRT = (
    "TensorRT is not available ({why}). Engines are built on GPU nodes only: install it with "
    '`pip install "a2f-cluster[gpu]"` (needs NVIDIA\'s package index and a CUDA driver), or run '
    "this command inside NVIDIA's Triton container (nvcr.io/nvidia/tritonserver:<ver>-py3), "
    "which ships TensorRT. On CPU nodes use `a2f models build-repo --target cpu` instead."
)
#: A2E input length range (samples) when trt_info.json gives none (SDK audio2x/trt.py).
A2E_LENGTHS: tuple[int, int, int] = (5000, 30000, 60000)


class TensorRTUnavailable(RuntimeError):
    """``tensorrt`` cannot be imported; the message says how to get it."""


@dataclass(frozen=True)
class Profile:
    """One TensorRT optimisation profile: per-input min / opt / max shapes."""

    min: Mapping[str, Shape]
    opt: Mapping[str, Shape]
    max: Mapping[str, Shape]

    def digest(self) -> str:
        """Stable short hash of the profile (part of the cache key)."""
        text = json.dumps({k: dict(v) for k, v in asdict(self).items()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class EngineKey:
    """What an engine is only valid for."""

    gpu_name: str
    compute_capability: str
    trt_version: str
    precision: str
    profile_digest: str

    def folder(self) -> str:
        """Cache folder name, e.g. ``nvidia_l4-sm89-trt10.3.0-fp16-1a2b3c4d5e6f``."""
        gpu = re.sub(r"[^a-z0-9]+", "_", self.gpu_name.lower()).strip("_")
        cc = self.compute_capability.replace(".", "")
        return f"{gpu}-sm{cc}-trt{self.trt_version}-{self.precision}-{self.profile_digest}"


def parse_shapes(spec: str) -> dict[str, Shape]:
    """Parse a trtexec shape list ``input:1x1x8320,emotion:1x1x26``."""
    shapes: dict[str, Shape] = {}
    for item in filter(None, spec.split(",")):
        name, _, dims = item.rpartition(":")
        if not name:
            raise ValueError(f"bad trtexec shape {item!r}: expected name:AxBxC")
        shapes[name.strip("'\"")] = tuple(int(d) for d in dims.split("x"))
    return shapes


def profile_from_trtexec(args: list[str]) -> Profile:
    """The profile in trtexec arguments (placeholders already substituted)."""
    found: dict[str, dict[str, Shape]] = {}
    for arg in args:
        for part in ("min", "opt", "max"):
            prefix = f"--{part}Shapes="
            if arg.startswith(prefix):
                found[part] = parse_shapes(arg[len(prefix) :])
    missing = [p for p in ("min", "opt", "max") if p not in found]
    if missing:
        raise ValueError(f"trtexec arguments lack --{missing[0]}Shapes: {args}")
    return Profile(found["min"], found["opt"], found["max"])


def profile_from_trt_info(trt_info: Any, min_batch: int, opt_batch: int, max_batch: int) -> Profile:
    """Fill ``{MIN,OPT,MAX}_BATCH_SIZE`` in trt_info.json's arguments and read the profile.

    Args:
        trt_info: The package's ``TrtInfo`` (``a2f_actors.model_package``).
        min_batch: ``trt_model_generation.*.min_shape``.
        opt_batch: ``trt_model_generation.*.optimal_shape``.
        max_batch: ``trt_model_generation.*.maximum_shape``.
    """
    if not min_batch <= opt_batch <= max_batch:
        raise ValueError(f"need min <= opt <= max batch, got {min_batch}, {opt_batch}, {max_batch}")
    args = trt_info.trtexec_args(
        MIN_BATCH_SIZE=min_batch, OPT_BATCH_SIZE=opt_batch, MAX_BATCH_SIZE=max_batch
    )
    return profile_from_trtexec(args)


def profile_from_onnx(
    inputs: Mapping[str, list[int]], min_batch: int, opt_batch: int, max_batch: int
) -> Profile:
    """Profile from ONNX dims: batch axis (axis 2 for GRU latents) = min/opt/max.

    The only other dynamic dim allowed is A2E's sample count, set to :data:`A2E_LENGTHS`.
    """
    shapes: list[dict[str, Shape]] = [{}, {}, {}]
    for name, dims in inputs.items():
        axis = NVIDIA_BATCH_AXIS.get(name, 0)
        for i, (batch, length) in enumerate(
            zip((min_batch, opt_batch, max_batch), A2E_LENGTHS, strict=True)
        ):
            shape = [batch if a == axis else (length if d < 0 else d) for a, d in enumerate(dims)]
            if name != "input_values" and any(d < 0 for a, d in enumerate(dims) if a != axis):
                raise ValueError(
                    f"input {name!r} {dims} has a dynamic non-batch dim; add trt_info.json"
                )
            shapes[i][name] = tuple(shape)
    return Profile(*shapes)


def load_tensorrt() -> Any:
    """Import ``tensorrt`` or raise :class:`TensorRTUnavailable` with the fix."""
    try:
        import tensorrt
    except (ImportError, OSError) as exc:  # OSError: libnvinfer / CUDA libraries missing
        raise TensorRTUnavailable(MISSING_TRT.format(why=f"{type(exc).__name__}: {exc}")) from exc
    return tensorrt


def gpu_identity(device: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability) from nvidia-smi, e.g. ``("NVIDIA L4", "8.9")``."""
    query = [
        "nvidia-smi",
        f"--id={device}",
        "--query-gpu=name,compute_cap",
        "--format=csv,noheader",
    ]
    try:
        out = subprocess.run(query, capture_output=True, text=True, check=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise TensorRTUnavailable(f"no GPU visible (nvidia-smi failed: {exc})") from exc
    name, cc = (s.strip() for s in out.strip().splitlines()[0].split(","))
    return name, cc


def engine_dir(cache_root: Path, model: str, key: EngineKey) -> Path:
    """Where the engine of ``model`` for ``key`` lives."""
    return Path(cache_root) / model / key.folder()


def provenance(onnx_path: Path, onnx_sha256: str, key: EngineKey, profile: Profile) -> dict:
    """The JSON written beside each engine."""
    return {
        "onnx_path": str(onnx_path),
        "onnx_sha256": onnx_sha256,
        "key": asdict(key),
        "profile": {k: {n: list(s) for n, s in v.items()} for k, v in asdict(profile).items()},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def build_engine(trt: Any, onnx_path: Path, profile: Profile, precision: str, out: Path) -> Path:
    """Build and serialise one engine with the TensorRT Python API (GPU only)."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise RuntimeError(f"{onnx_path}: TensorRT cannot parse the ONNX: {errors}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    opt_profile = builder.create_optimization_profile()
    for name in profile.min:
        opt_profile.set_shape(name, profile.min[name], profile.opt[name], profile.max[name])
    config.add_optimization_profile(opt_profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"{onnx_path}: TensorRT engine build failed (see the log above)")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(bytes(serialized))
    return out


@dataclass(frozen=True)
class EngineRequest:
    """One engine to build: the network, its profile and precision."""

    source: NetworkSource
    profile: Profile
    precision: str

    @property
    def model(self) -> str:
        """Triton model that serves the engine (diffusion: the BLS-called ``_net``)."""
        name = model_name(self.source.kind, self.source.model_id)
        return name + "_net" if self.source.kind == "diffusion" else name


def plan_engine(
    source: NetworkSource, trt_info: Any | None, batches: tuple[int, int, int], precision: str
) -> EngineRequest:
    """Profile (trt_info.json when present, else the ONNX dims) and precision of one engine."""
    if source.kind == "a2e" and precision != "fp32":
        raise ValueError("the Audio2Emotion engine is fp32 only (NIM trt_model_generation.a2e)")
    if trt_info is not None:
        profile = profile_from_trt_info(trt_info, *batches)
    else:
        profile = profile_from_onnx(onnx_io(str(source.onnx_path))[0], *batches)
    return EngineRequest(source, profile, precision)


def build_engines(
    requests: list[EngineRequest], cache_root: Path, repository: Path | None = None
) -> list[tuple[str, str, Path]]:
    """Build (or reuse) each engine; link it as ``<repository>/<model>/1/model.plan``.

    Returns:
        (model, "built" | "cached", engine path) per request.

    Raises:
        TensorRTUnavailable: without tensorrt or without a GPU (before any work).
    """
    trt = load_tensorrt()
    gpu, cc = gpu_identity()
    done = []
    for req in requests:
        key = EngineKey(gpu, cc, str(trt.__version__), req.precision, req.profile.digest())
        folder = engine_dir(cache_root, req.model, key)
        plan, prov_path = folder / "model.plan", folder / "provenance.json"
        sha = sha256_file(req.source.onnx_path)
        cached = plan.is_file() and prov_path.is_file()
        if cached and json.loads(prov_path.read_text()).get("onnx_sha256") == sha:
            status = "cached"
        else:
            build_engine(trt, req.source.onnx_path, req.profile, req.precision, plan)
            prov = provenance(req.source.onnx_path, sha, key, req.profile)
            prov_path.write_text(json.dumps(prov, indent=2) + "\n")
            status = "built"
        if repository is not None:
            link = Path(repository) / req.model / "1" / "model.plan"
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(plan.resolve())
        done.append((req.model, status, plan))
    return done
