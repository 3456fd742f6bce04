"""Build the Triton model repository from model packages (``a2f models build-repo``).

One Triton model per network, named ``a2f_regression_<id>``, ``a2f_diffusion_<id>`` and
``a2e_<id>``, each with a ``config.pbtxt`` in NVIDIA's tensor names, a version folder ``1/``
and a ``provenance.json`` (generator version, ONNX path and sha256, hashes of what was written).

- CPU target: Python-backend ``model.py`` (``python_model/model.py``) running ONNX Runtime on
  the package's ``network.onnx``, referenced by the ``onnx_path`` parameter (not copied).
- GPU target: ``tensorrt_plan`` (``1/model.plan`` linked by ``a2f models build-engines``) or
  the ``onnxruntime`` backend with the TensorRT execution provider (``1/model.onnx`` symlink).
  NVIDIA's diffusion graph has its GRU latents batched on axis 2 and takes the noise as input,
  so on GPU it becomes ``a2f_diffusion_<id>_net`` (``max_batch_size: 0``, NVIDIA's full dims)
  behind the Python model ``a2f_diffusion_<id>``, which generates the noise, transposes the
  latents and calls the net through BLS.

Rebuilding is idempotent. An entry whose provenance differs from what would be written now
(ONNX changed, generator upgraded, settings changed) or that has no provenance is reported
``stale`` and left alone unless ``force`` is set.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from deployments.triton import pbtxt
from deployments.triton.python_model import model as pymodel

GENERATOR = "a2f-cluster deployments.triton.repository"
GENERATOR_VERSION = "1"
PROVENANCE = "provenance.json"
TEMPLATE = Path(pymodel.__file__)
Kind = Literal["regression", "diffusion", "a2e"]
Status = Literal["created", "unchanged", "rebuilt", "stale"]
_PREFIX: dict[str, str] = {
    "regression": "a2f_regression_",
    "diffusion": "a2f_diffusion_",
    "a2e": "a2e_",
}


@dataclass(frozen=True)
class NetworkSource:
    """One network to serve: its kind, model id and ONNX file (from a model package)."""

    kind: Kind
    model_id: str
    onnx_path: Path


@dataclass(frozen=True)
class KindSettings:
    """Batching and placement of one kind of network."""

    max_batch_size: int
    preferred_batch_size: tuple[int, ...]
    max_queue_delay_us: int
    instance_count: int = 1
    run_rows: int = 0  # rows per ONNX Runtime run in the Python model (0: whole request)


#: Defaults on CPU: modest batches (ORT saturates by B~8-32 on 2 cores, serving_stack.md s4).
#: Queue delay 100 us: the ingress tick already batches every stream into one request, so a
#: longer wait only adds latency to every tick (5 ms was measured as 5 ms more per frame);
#: Triton still merges requests that queue while its instance is busy (other replicas).
#: Regression: 2 instances x 1 thread, so the sub-batches of a burst run on both cores at once
#: (in real time one request per tick keeps one instance busy; the other costs memory only).
#: The Python model runs ORT on 8 rows at a time (run_rows): per window that is the fastest
#: batch on these cores, 25 % faster than one 64-row run (ServingNetwork's docstring).
CPU_DEFAULTS: dict[str, KindSettings] = {
    "regression": KindSettings(
        64, (8, 16, 32, 64), 100, instance_count=2, run_rows=pymodel.CPU_RUN_ROWS
    ),
    "diffusion": KindSettings(8, (2, 4, 8), 100),
    "a2e": KindSettings(32, (4, 8, 16, 32), 100),
}
#: Defaults on GPU: the NIM's trt_model_generation (opt 10, max 128); diffusion max 8.
GPU_DEFAULTS: dict[str, KindSettings] = {
    "regression": KindSettings(128, (10, 32, 64, 128), 1000),
    "diffusion": KindSettings(8, (3, 8), 2000),
    "a2e": KindSettings(128, (10, 32, 64, 128), 2000),
}


@dataclass(frozen=True)
class BuildOptions:
    """How to build the repository.

    Attributes:
        target: ``cpu`` (Python backend + ONNX Runtime) or ``gpu``.
        gpu_backend: ``tensorrt_plan`` or ``onnxruntime_trt`` (GPU target only).
        settings: Per-kind batching and instance settings (defaults per target when empty).
        constant_noise: Diffusion: one fixed noise tensor per model instance (NIM default).
        noise_seed: Diffusion noise seed.
        intra_op_threads: ONNX Runtime intra-op threads per instance (0 = ORT default).
        allow_spinning: Let ORT worker threads spin (faster alone, wasteful on shared cores).
        precision: ``fp16`` or ``fp32`` for the onnxruntime TensorRT provider.
        force: Rebuild stale entries instead of reporting them.
    """

    target: Literal["cpu", "gpu"] = "cpu"
    gpu_backend: Literal["tensorrt_plan", "onnxruntime_trt"] = "tensorrt_plan"
    settings: Mapping[str, KindSettings] = field(default_factory=dict)
    constant_noise: bool = True
    noise_seed: int = 0
    intra_op_threads: int = 0
    allow_spinning: bool = False
    precision: Literal["fp16", "fp32"] = "fp16"
    force: bool = False

    def kind_settings(self, kind: str) -> KindSettings:
        """Settings for ``kind``: explicit, else the target's default."""
        defaults = GPU_DEFAULTS if self.target == "gpu" else CPU_DEFAULTS
        return self.settings.get(kind, defaults[kind])


@dataclass(frozen=True)
class EntryReport:
    """Outcome for one Triton model: status plus a human-readable detail."""

    model: str
    status: Status
    detail: str = ""


@dataclass(frozen=True)
class _Planned:
    """A model directory to write: config, extra files, symlinks, provenance."""

    config: pbtxt.ModelConfig
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> text
    links: Mapping[str, Path] = field(default_factory=dict)  # relative path -> target
    provenance: Mapping[str, object] = field(default_factory=dict)


def model_name(kind: str, model_id: str) -> str:
    """Triton model name of a network, e.g. ``a2f_regression_mark_v2.3``."""
    return _PREFIX[kind] + model_id


def sanitize_model_id(text: str) -> str:
    """Lower-case ``text`` and replace characters Triton names should avoid by ``_``."""
    return re.sub(r"[^a-z0-9_.-]+", "_", text.lower()).strip("_") or "model"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tensors(dims: Mapping[str, list[int]]) -> tuple[pbtxt.TensorConfig, ...]:
    return tuple(pbtxt.TensorConfig(name, tuple(d)) for name, d in dims.items())


def _batching(s: KindSettings) -> pbtxt.DynamicBatching:
    preferred = tuple(b for b in s.preferred_batch_size if b <= s.max_batch_size)
    return pbtxt.DynamicBatching(preferred or (s.max_batch_size,), s.max_queue_delay_us)


def _python_config(
    name: str, src: NetworkSource, io: tuple[dict, dict], opts: BuildOptions, net_model: str = ""
) -> pbtxt.ModelConfig:
    """Python-backend model around the ONNX (CPU), or around ``net_model`` through BLS."""
    network = pymodel.ServingNetwork(io[0], io[1], lambda feeds: feeds)
    s = opts.kind_settings(src.kind)
    params = {
        "kind": src.kind,
        "onnx_path": str(src.onnx_path.resolve()),
        "nvidia_io": json.dumps({"inputs": io[0], "outputs": io[1]}, separators=(",", ":")),
        "intra_op_threads": str(opts.intra_op_threads),
        "allow_spinning": str(opts.allow_spinning).lower(),
    }
    if src.kind == "diffusion":
        params["constant_noise"] = str(opts.constant_noise).lower()
        params["noise_seed"] = str(opts.noise_seed)
    if net_model:
        params["net_model"] = net_model
    elif s.run_rows:  # ORT on CPU only: a TensorRT engine wants the whole batch
        params["run_rows"] = str(s.run_rows)
    return pbtxt.ModelConfig(
        name=name,
        backend="python",
        max_batch_size=s.max_batch_size,
        inputs=_tensors(network.input_dims),
        outputs=_tensors(network.output_dims),
        dynamic_batching=_batching(s),
        instance_group=pbtxt.InstanceGroup(pbtxt.KIND_CPU, s.instance_count),
        parameters=tuple(sorted(params.items())),
    )


def _gpu_config(name: str, io: tuple[dict, dict], s: KindSettings | None, opts: BuildOptions):
    """TensorRT plan / ORT+TRT model; ``s`` None = no batching (full NVIDIA dims)."""
    strip = (lambda d: d[1:]) if s else (lambda d: d)
    ort = opts.gpu_backend == "onnxruntime_trt"
    accel = (("precision_mode", opts.precision.upper()), ("trt_engine_cache_enable", "1"))
    return pbtxt.ModelConfig(
        name=name,
        backend="onnxruntime" if ort else None,
        platform=None if ort else "tensorrt_plan",
        max_batch_size=s.max_batch_size if s else 0,
        inputs=_tensors({n: strip(d) for n, d in io[0].items()}),
        outputs=_tensors({n: strip(d) for n, d in io[1].items()}),
        dynamic_batching=_batching(s) if s else None,
        instance_group=pbtxt.InstanceGroup(pbtxt.KIND_GPU, s.instance_count if s else 1),
        gpu_accelerator=accel if ort else None,
    )


def plan(src: NetworkSource, opts: BuildOptions) -> list[_Planned]:
    """Configs and files for one network (two models for diffusion on GPU)."""
    io = pymodel.onnx_io(str(src.onnx_path))
    name = model_name(src.kind, src.model_id)
    template = {"1/model.py": TEMPLATE.read_text()}
    if opts.target == "cpu":
        return [_Planned(_python_config(name, src, io, opts), template)]
    weights = "1/model.onnx" if opts.gpu_backend == "onnxruntime_trt" else "1/model.plan"
    links = {"1/model.onnx": src.onnx_path.resolve()} if weights.endswith(".onnx") else {}
    if src.kind != "diffusion":
        return [_Planned(_gpu_config(name, io, opts.kind_settings(src.kind), opts), {}, links)]
    net = name + "_net"
    return [
        _Planned(_python_config(name, src, io, opts, net_model=net), template),
        _Planned(_gpu_config(net, io, None, opts), {}, links),
    ]


def _provenance(p: _Planned, src: NetworkSource, onnx_sha: str, opts: BuildOptions) -> dict:
    written = {"config.pbtxt": pbtxt.render(p.config), **p.files}
    return {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "model": p.config.name,
        "kind": src.kind,
        "model_id": src.model_id,
        "target": opts.target,
        "gpu_backend": opts.gpu_backend if opts.target == "gpu" else None,
        "onnx_path": str(src.onnx_path.resolve()),
        "onnx_sha256": onnx_sha,
        "files_sha256": {k: hashlib.sha256(v.encode()).hexdigest() for k, v in written.items()},
        "links": {k: str(v) for k, v in p.links.items()},
    }


def _diff(old: Mapping[str, object], new: Mapping[str, object]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    parts = [f"{k}: {str(old.get(k))[:16]!s} -> {str(new.get(k))[:16]!s}" for k in keys]
    return "; ".join(parts)


def _check_existing(target: Path, provenance: Mapping[str, object]) -> tuple[bool, str]:
    """Whether ``target`` holds exactly what would be written; else why not."""
    prov_path = target / PROVENANCE
    if not prov_path.is_file():
        return False, f"{target} exists without {PROVENANCE} (not written by this builder)"
    old = json.loads(prov_path.read_text())
    if old != provenance:
        return False, _diff(old, provenance)
    for rel, digest in provenance["files_sha256"].items():  # type: ignore[union-attr]
        path = target / rel
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False, f"{rel} was modified or removed after the build"
    return True, ""


def _write(target: Path, p: _Planned, provenance: Mapping[str, object]) -> None:
    """Write into a temporary sibling, then rename, so a crash leaves no half entry."""
    tmp = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "1").mkdir(parents=True)
    (tmp / "config.pbtxt").write_text(pbtxt.render(p.config))
    for rel, text in p.files.items():
        (tmp / rel).write_text(text)
    for rel, dest in p.links.items():
        (tmp / rel).symlink_to(dest)
    (tmp / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _build_one(out: Path, src: NetworkSource, opts: BuildOptions) -> list[EntryReport]:
    onnx_sha = sha256_file(src.onnx_path)
    reports = []
    for p in plan(src, opts):
        target = out / p.config.name
        prov = _provenance(p, src, onnx_sha, opts)
        if not target.exists():
            _write(target, p, prov)
            reports.append(EntryReport(p.config.name, "created", str(src.onnx_path)))
            continue
        same, why = _check_existing(target, prov)
        if same:
            reports.append(EntryReport(p.config.name, "unchanged"))
        elif opts.force:
            _write(target, p, prov)
            reports.append(EntryReport(p.config.name, "rebuilt", why))
        else:
            reports.append(EntryReport(p.config.name, "stale", why + " (use --force to rebuild)"))
    return reports


def build_repository(
    sources: Iterable[NetworkSource], out: Path, opts: BuildOptions | None = None
) -> list[EntryReport]:
    """Write (or verify) one entry per network under ``out``; return one report per model."""
    opts = opts or BuildOptions()
    out.mkdir(parents=True, exist_ok=True)
    reports: list[EntryReport] = []
    for src in sources:
        reports += _build_one(out, src, opts)
    return reports


def with_settings(opts: BuildOptions, **overrides: int) -> BuildOptions:
    """Apply ``max_queue_delay_us`` / ``instance_count`` overrides to every kind."""
    kinds = ("regression", "diffusion", "a2e")
    settings = {k: replace(opts.kind_settings(k), **overrides) for k in kinds}
    return replace(opts, settings=settings)


def describe_package(path: Path, model_id: str | None = None) -> tuple[NetworkSource, object]:
    """The network of a model package directory and its ``TrtInfo`` (None without one).

    Args:
        path: The package directory (or its model.json).
        model_id: Model id in the Triton names; default: the directory name, sanitized.

    Raises:
        ModelPackageError: if the package is invalid or has no network.onnx.
    """
    from a2f_actors.errors import ModelPackageError
    from a2f_actors.model_package import load_package

    package = load_package(path)
    kinds = {"RegressionPackage": "regression", "DiffusionPackage": "diffusion"}
    kind = kinds.get(type(package).__name__, "a2e")
    onnx = package.files.network.onnx if package.files else None
    if onnx is None:
        raise ModelPackageError(f"{path}: no network.onnx beside model.json; cannot serve it")
    directory = Path(path) if Path(path).is_dir() else Path(path).parent
    model_id = model_id or sanitize_model_id(directory.name)
    return NetworkSource(kind, model_id, onnx), package.trt_info  # type: ignore[arg-type]
